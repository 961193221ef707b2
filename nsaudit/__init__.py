"""nsaudit: audit Linux namespaces, what the kernel can do and what exists."""

__version__ = "0.1.0"
