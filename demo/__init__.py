"""`./fpwh demo`: the whole warehouse on embedded defaults (the bundled simulator), end to end.

A dev and demo tool beside the product, like `simulator/`: neither is part of the installed package.
"""
