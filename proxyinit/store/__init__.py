"""Durable storage of App Mesh resources (the REST API's and `mesh apply`'s meeting place).

`base` holds the contract (dependency-free); `sqlite` the embedded default implementation;
`meshes` the App Mesh write rules over it (`apply` plans `mesh apply`, `tokens` remembers
clientTokens).
"""
