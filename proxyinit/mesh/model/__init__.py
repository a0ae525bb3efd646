"""The App Mesh model: resource shapes (pydantic), the whole-mesh MeshModel, validation, mesh files."""
