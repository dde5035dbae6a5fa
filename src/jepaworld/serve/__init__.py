"""The HTTP service and web viewer over the public Python API (``jepaworld serve``)."""
