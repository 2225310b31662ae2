"""gdlab: one verified implementation of every algorithm the gdlab course teaches.

Submodules are imported explicitly (``from gdlab import problems``) so that importing
the NumPy parts never pulls in torch.
"""

__version__ = "0.1.0"
