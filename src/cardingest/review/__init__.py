"""Look before you file: thumbnails and the HTML contact sheet of a plan."""
