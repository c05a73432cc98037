"""models/gpt"""
