"""toontag: recognise which cartoon characters appear in images and video."""

__version__ = "0.1.0"
