"""asdlib: a reproducible companion to Venkatesh et al., DCASE 2022 Task 2 (disentangled MTL for ASD).

Importing the package imports nothing heavy; import the submodules you need.
"""
__version__ = "0.1.0"
