"""Scripts that train the small models Atelier ships (not imported by the product)."""
