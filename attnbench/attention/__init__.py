"""Attention variants, one module each; the registry imports every module here."""
