"""Data: the shipped datasets, users' own classes and archives, pictures, real datasets when online."""
