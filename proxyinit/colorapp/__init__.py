"""The walkthrough's apps: colorteller (answers its color) and colorgateway (asks colorteller
through the mesh and keeps stats). Stdlib only: they start fast and run as an unprivileged uid."""
