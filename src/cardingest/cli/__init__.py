"""The command line: a thin Typer app over the use cases; the only package that imports
Typer or Rich."""

from .app import main

__all__ = ["main"]
