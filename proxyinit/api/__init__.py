"""The App Mesh REST API (2019-01-25), self-hosted: FastAPI app, served by uvicorn in-process."""
