"""The mapping engine: `transforms/*.yml` declarations run as the Singer mapper `ponte-mapper`.

A declaration maps source streams to target entities with copies, expressions (singer-sdk stream-map syntax),
constants, lookups, filters and group + collect (`ponte validate --explain mapping` documents the format).
"""

from __future__ import annotations

from ponte.mapper.declaration import MappingFile, MappingRule, load_mapping

__all__ = ["MappingFile", "MappingRule", "load_mapping"]
