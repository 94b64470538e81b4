"""Storage of campaigns and of each company's call statuses (SQLAlchemy Core).

Definitions are kept as the TOML text the manager gave: the one source of truth, parsed
and checked again whenever it is read.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, String, Table, Text, UniqueConstraint

from compliance.tables import UtcDateTime, metadata

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("company_id", ForeignKey("companies.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("state", String(20), nullable=False),
    Column("definition", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("company_id", "name"),
)

status_books = Table(
    "status_books",
    metadata,
    Column("company_id", ForeignKey("companies.id"), primary_key=True),
    Column("definition", Text, nullable=False),
    Column("loaded_by", String(200), nullable=False),
    Column("loaded_at", UtcDateTime, nullable=False),
)
