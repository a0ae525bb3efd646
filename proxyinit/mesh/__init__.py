"""App Mesh: `model` (shapes, validation) -> `translate` (pure, to Envoy) ; `runtime` (Envoy)."""
