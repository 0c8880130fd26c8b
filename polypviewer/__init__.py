"""PolypViewer: review colonoscopy images and recorded procedures."""

__version__ = "0.1.0"
