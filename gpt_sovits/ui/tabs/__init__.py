"""ui/tabs"""
