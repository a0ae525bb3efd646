"""Pure translation of a valid MeshModel to Envoy resources, one virtual node at a time."""
