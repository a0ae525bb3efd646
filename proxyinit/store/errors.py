"""What a refused store write means, one class per App Mesh error the API maps it to."""

from __future__ import annotations

from proxyinit.errors import ConfigError, ProxyinitError


class Invalid(ConfigError):
    """The would-be mesh does not validate (BadRequestException)."""


class NotFound(ConfigError):
    """A named resource, or its parent, does not exist (NotFoundException)."""


class Conflict(ConfigError):
    """The name exists, or a clientToken is reused for another request (ConflictException)."""


class InUse(ConfigError):
    """A delete would leave others pointing at nothing (ResourceInUseException)."""


class TooManyTags(ConfigError):
    """More than 50 tags on one resource (TooManyTagsException)."""


__all__ = ["Conflict", "InUse", "Invalid", "NotFound", "ProxyinitError", "TooManyTags"]
