"""App Mesh model (pydantic), its pure translation to Envoy resources, and the Envoy bootstrap."""
