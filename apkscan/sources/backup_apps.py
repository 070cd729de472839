"""Which backup app wrote a folder (or ZIP of one), and its layout reader.

The detectors look only at file names (cheap, before anything is read); the readers
are in :mod:`neo_backup` (Neo Backup / OAndBackupX, old OAndBackup) and
:mod:`swift_titanium` (Swift Backup, Titanium Backup). SAI backups are SAI ``.apks``
files (a ZIP with ``meta.sai_v*.json``) and are read by the bundle reader, not here.
"""

from __future__ import annotations

from apkscan.sources.interface import ContainerReader, Tree
from apkscan.sources.neo_backup import NeoBackupReader, is_neo_backup, is_oandbackup
from apkscan.sources.swift_titanium import (SwiftBackupReader, TitaniumBackupReader, is_swift_backup,
                                            is_titanium_backup)


def detect_backup_app(tree: Tree) -> str | None:
    """``"neo-backup"``, ``"oandbackup"``, ``"titanium-backup"``, ``"swift-backup"`` or None."""
    names = tree.names()
    if is_neo_backup(names):
        return "neo-backup"
    if is_oandbackup(names):
        return "oandbackup"
    if is_titanium_backup(names):
        return "titanium-backup"
    if is_swift_backup(names):
        return "swift-backup"
    return None


def backup_app_reader(tree: Tree) -> ContainerReader | None:
    """The layout reader for ``tree``, or None when no backup app's layout is recognised."""
    kind = detect_backup_app(tree)
    if kind == "neo-backup":
        return NeoBackupReader(tree, "neo")
    if kind == "oandbackup":
        return NeoBackupReader(tree, "oab")
    if kind == "titanium-backup":
        return TitaniumBackupReader(tree)
    if kind == "swift-backup":
        return SwiftBackupReader(tree)
    return None
