"""PySide6 review GUI: workers call the engine; the UI thread never decodes or runs a model."""
