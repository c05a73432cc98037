"""Values that flow from one tab to the next (dataset name, clip folder, .list, experiment, new weights).

A tab publishes the component that holds a value ("slice.output_dir"); a later tab follows it, and its own field is
filled whenever the published one changes — still editable, never locked. The registry only holds component
handles while the app is built; the values themselves travel through Gradio events, one browser session each, so
nothing of one user's session is shared with another.
"""

from __future__ import annotations

from typing import Any, Callable

import gradio as gr


class TabLinks:
    def __init__(self) -> None:
        self._published: dict[str, gr.components.Component] = {}

    def publish(self, name: str, component: gr.components.Component) -> None:
        if name in self._published:
            raise ValueError(f"{name!r} is already published by another tab")
        self._published[name] = component

    def get(self, name: str) -> gr.components.Component | None:
        return self._published.get(name)

    def follow(self, name: str, targets: gr.components.Component | list[gr.components.Component],
               fn: Callable[..., Any] | None = None, event: str = "change") -> bool:
        """When the published `name` changes, set `targets` to `fn(value)` (default: the value itself).

        Returns False when nothing is published under `name` (the tab that would publish it is missing), so a tab
        still builds on its own.
        """
        source = self._published.get(name)
        if source is None:
            return False
        getattr(source, event)(fn or (lambda v: v), inputs=source, outputs=targets, show_progress="hidden")
        return True
