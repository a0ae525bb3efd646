"""The Envoy side: the bootstrap rendered from APPMESH_*/ENVOY_* env, and the Envoy process."""
