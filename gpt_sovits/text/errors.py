"""Errors of the text frontend, raised with a message a user can act on."""


class TextFrontendError(ValueError):
    """Unsupported language, text that yields no phones, or similar bad input."""
