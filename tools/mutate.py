#!/usr/bin/env python3
"""Mutation testing of the safety-critical modules, on demand (not part of CI).

    python tools/mutate.py ids plan/naming          # some modules
    python tools/mutate.py --all                    # every module in MODULES
    python tools/mutate.py --list                   # the modules and their tests
    python tools/mutate.py ids --show               # diffs of the surviving mutants

Each module is mutated by mutmut (3.x) in its own scratch copy of the project under
``.mutation/<module>/`` (git-ignored), against a focused subset of the fast tests (MODULES
below), so one module takes minutes, not the whole suite's time per mutant. ``PYTHONPATH``
points at the mutated sources, so tests that run the real ``cardingest`` CLI in a subprocess
run the mutant too; but mutmut runs a mutant only against the tests it saw reach the mutated
function in-process, so a test that reaches it only through a subprocess is never run. The
summary line per module is what docs/testing.md reports.

Needs ``pip install mutmut`` (the ``mutation`` extra). ``--jobs`` defaults to 1: the machine's
cores are shared; raise it on your own.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation"

CAPTURE_READS = [
    "tests/test_capture.py",
    "tests/test_capture_ifd_bound.py",
    "tests/test_capture_layouts.py",
    "tests/test_capture_mutants.py",
    "tests/test_capture_order.py",
    "tests/test_capture_paths.py",
    "tests/test_capture_rules.py",
    "tests/test_exif_quick.py",
    "tests/test_raw_capture.py",
]
"""The tests of capture-time reading, which each reader below `capture` (the IFD bound, the
RAW parsers) is mutated against, with its own mutants' file."""

MODULES: dict[str, list[str]] = {
    "ids": ["tests/test_ids.py", "tests/test_nhi_vectors.py", "tests/test_id_messages.py"],
    "plan/naming": [
        "tests/test_plan.py",
        "tests/test_naming_order.py",
        "tests/test_naming_rules.py",
    ],
    "plan/planner": [
        "tests/test_plan.py",
        "tests/test_naming_order.py",
        "tests/test_plan_items.py",
        "tests/test_plan_edges.py",
        "tests/test_planner_holds.py",
        "tests/test_slates.py",
        "tests/test_slates_cli.py",
        "tests/test_bad_names.py",
        "tests/test_other_patient.py",
        "tests/test_interactive.py",
        "tests/test_no_correction.py",
        "tests/test_idmap.py",
        "tests/test_plan_names_random.py",
        "tests/test_memory.py::test_bases_answer_as_the_set_of_base_strings_did",
    ],
    "plan/shots": [
        "tests/test_shots.py",
        "tests/test_plan.py",
        "tests/test_naming_order.py",
        "tests/test_slates.py",
    ],
    "archive/audit": [
        "tests/test_audit.py",
        "tests/test_audit_forgery.py",
        "tests/test_audit_cli.py",
        "tests/test_audit_rules.py",
    ],
    "archive/manifest": [
        "tests/test_manifest.py",
        "tests/test_manifest_scope.py",
        "tests/test_manifest_rules.py",
        "tests/test_verify_manifests.py",
        "tests/test_move_abandon.py",
    ],
    "archive/manifestcheck": [
        "tests/test_verify_manifests.py",
        "tests/test_backup_moved.py",
    ],
    "archive/verify": [
        "tests/test_verify.py",
        "tests/test_verify_rules.py",
        "tests/test_verify_mutants.py",
        "tests/test_verify_everything.py",
        "tests/test_verify_id.py",
        "tests/test_copy_checker.py",
    ],
    "archive/catalogue": ["tests/test_catalogue.py", "tests/test_catalogue_mutants.py"],
    "card/capture": [
        "tests/test_capture.py",
        "tests/test_exif_quick.py",
        "tests/test_capture_order.py",
        "tests/test_capture_rules.py",
        "tests/test_capture_paths.py",
        "tests/test_capture_mutants.py",
        "tests/test_raw_capture.py",
    ],
    "card/ifdbound": ["tests/test_ifdbound_mutants.py", *CAPTURE_READS],
    "card/raw": ["tests/test_raw_mutants.py", *CAPTURE_READS],
    # Which mounts are cards: test_cards.py decides on mount records and folders in
    # tmp_path, test_cards_real.py and test_watch.py on real fusefat/exfat-fuse mounts (all
    # in-process, ~20 s together); test_usability.py (~45 s) reaches it only in its fusefat
    # label test.
    "card/detect": [
        "tests/test_detect_mutants.py",
        "tests/test_cards.py",
        "tests/test_cards_real.py",
        "tests/test_watch.py",
        "tests/test_usability.py::test_fusefat_label_comes_from_the_volume",
    ],
    "card/volume": [
        "tests/test_volume_mutants.py",
        "tests/test_detect_mutants.py",
        "tests/test_cards.py",
        "tests/test_cards_real.py",
    ],
    "card/kinds": ["tests/test_kinds.py", "tests/test_scan_opens.py", "tests/test_bad_names.py"],
    "card/scan": [
        "tests/test_scan_opens.py",
        "tests/test_capture.py",
        "tests/test_capture_paths.py",
        "tests/test_capture_order.py",
        "tests/test_raw_capture.py",
        "tests/test_special_files.py",
        "tests/test_bad_names.py",
    ],
    "storage/transfer": [
        "tests/test_transfer.py",
        "tests/test_transfer_mutants.py",
        "tests/test_transfer_cached.py",
        "tests/test_transfer_held.py",
        "tests/test_readback.py",
        "tests/test_folder_syncs.py",
        "tests/test_read_ahead.py",
    ],
    "storage/pagecache": ["tests/test_pagecache.py", "tests/test_read_ahead.py"],
    "storage/links": ["tests/test_wipe.py", "tests/test_move.py", "tests/test_search_tag.py"],
    "wipe": [
        "tests/test_wipe_mutants.py",
        "tests/test_wipe.py::test_same_card",
        "tests/test_wipe.py::test_names_file",
        # A read-only card needs a read-only mount (as root, a folder is always writable).
        "tests/test_wipe.py::test_read_only_card_is_a_clear_error",
        "tests/test_wipe.py::test_read_only_found_at_the_first_removal",
        "tests/test_wipe.py::test_a_card_folder_that_is_the_archive_folder_keeps_its_photos",
    ],
    "plan/idmap": [
        "tests/test_idmap.py",
        "tests/test_idmap_mutants.py",
        "tests/test_map_matching.py",
        "tests/test_map_use.py",
        "tests/test_map_template.py",
        "tests/test_id_after_map.py",
        "tests/test_no_correction.py",
        "tests/test_other_patient.py",
        "tests/test_split_shot.py",
        "tests/test_time_rows.py",
        "tests/test_plan_items.py",
        "tests/test_archived_earlier.py",
        "tests/test_input_limits.py::test_a_map_that_never_ends_is_capped",
        "tests/test_input_limits.py::test_a_cell_over_the_csv_field_limit_names_its_line",
        "tests/test_input_limits.py::test_a_row_naming_a_video_or_a_link_says_what_it_names",
    ],
    # Fault scenario 14e (tests/faults/test_mislabel.py) kills C28 too; faults/ is not copied.
    "abandon": ["tests/test_move_abandon.py", "tests/test_move.py"],
    "prepare": [
        "tests/test_prepare_mutants.py",
        "tests/test_map_use.py",
        "tests/test_id_after_map.py",
        "tests/test_clock_warning.py",
        "tests/test_same_content_elsewhere.py",
        "tests/test_archived_earlier.py",
        "tests/test_repair.py",
    ],
    "archive/lock": [
        "tests/test_lock.py",
        "tests/test_lock_mutants.py",
        "tests/test_cli.py::test_a_backup_in_use_by_another_ingest_is_refused",
        "tests/test_move.py::test_a_locked_archive_is_exit_1",
        "tests/test_search_tag.py::test_tag_waits_for_no_one_while_another_holds_the_archive",
    ],
    # Every test here needs PostgreSQL but one (the gate on its own); with a server, ~50 s.
    "archive/claims": ["tests/test_pg_claims.py", "tests/test_claims_mutants.py"],
    "archive/journal": [
        "tests/test_journal.py",
        "tests/test_journal_mutants.py",
        "tests/test_interrupt_handover.py",
        "tests/test_ingest_stopped.py",
        # The lines PostgreSQL's claims vouch for (`_claims_check`); the other claims tests
        # are about the gate, slow, and reach the journal only as any ingest does.
        "tests/test_pg_claims.py::test_a_dead_desks_unrecorded_photos_stay_held_until_it_is_recovered",
        "tests/test_pg_claims.py::test_a_journal_line_the_dead_desk_never_claimed_is_not_recorded",
        "tests/test_pg_claims.py::test_an_interrupted_desks_claims_last_as_long_as_its_journal",
        "tests/test_pg_claims.py::test_a_dead_ingests_claims_go_only_once_nothing_it_named_can_lack_its_row",
    ],
    # Moving a SQLite catalogue into PostgreSQL. Each mutant's tests start a PostgreSQL
    # server of their own (initdb in the forked child), so only the tests that run `migrate`
    # in-process are listed: test_pg_catalogue's main migration tests and all of
    # test_catalogue_url run `catalogue migrate` in a subprocess, which mutmut never counts
    # (the whole of both files, 125 tests: about 3 mutants a minute).
    "archive/migrate": [
        "tests/test_migrate_mutants.py",
        "tests/test_pg_catalogue.py::test_an_archive_that_lost_its_id_file_is_refused_with_the_id_to_put_back",
        "tests/test_pg_catalogue.py::test_the_readme_roles_make_the_audit_log_append_only",
    ],
    # The DICOM export: test_dicom.py is dataset-level and CLI exports (~45 s); the Orthanc
    # tests (test_dicom_pacs, test_pacs_association) start a PACS and are left out.
    "export/dicom": ["tests/test_dicom.py", "tests/test_dicom_mutants.py"],
    "export/uids": ["tests/test_dicom.py", "tests/test_dicom_mutants.py"],
    "export/jpeg": ["tests/test_dicom.py", "tests/test_dicom_mutants.py", "tests/test_share.py"],
    # test_slates.py's barcode-reader tests (2-4 s each) reach no function here, so mutmut
    # runs none of them against a mutant. test_slates_card.py (the CLI in a subprocess),
    # test_planner_holds.py and test_outside_archive.py reach none in-process either: left out.
    "plan/slates": [
        "tests/test_slates_mutants.py",
        "tests/test_slates.py",
        "tests/test_slates_cli.py",
        "tests/test_sheet.py",
    ],
    # The barcode reader: test_slates.py's reader tests (samples, 2-4 s each) and
    # test_slates_cli.py's in-process decodes reach it; its assignment tests and the CLI in a
    # subprocess reach none. A mutant of `decode`'s path runs about 35 s of tests.
    "card/slate": [
        "tests/test_slate_mutants.py",
        "tests/test_slates.py",
        "tests/test_slates_cli.py",
    ],
    # The questions at a terminal (test_interactive.py's pexpect tests, test_clock_warning.py,
    # test_no_correction.py, test_sheet_interactive.py) run the CLI in a subprocess, which
    # mutmut does not see: only the in-process tests below reach a mutant.
    "plan/assign": [
        "tests/test_assign_mutants.py",
        "tests/test_interactive.py",
        "tests/test_usability.py::test_interactive_same_as_before_folders_and_left_blank",
        "tests/test_map_template.py",
        "tests/test_sheet.py",
        "tests/test_archived_earlier.py",
    ],
    # `map-template`'s groups and rows: test_map_template.py calls it in-process (its CLI
    # tests through clinic_helpers.invoke); plan/assign's groups (make_groups, the prompt's
    # spans) reach group_by_gap and group_span. The map-template tests of test_untrusted_names,
    # test_hidden_and_twin_names and test_on_card run the CLI in a subprocess: left out.
    "plan/template": [
        "tests/test_template_mutants.py",
        "tests/test_map_template.py",
        "tests/test_assign_mutants.py",
        "tests/test_archived_earlier.py",
        "tests/test_cli.py::test_map_template_round_trips",
        "tests/test_cli.py::test_map_template_of_a_source_with_no_photos_says_so",
        "tests/test_clock_warning.py::test_map_template_and_the_prompt_warn_before_the_rows_are_filled",
    ],
    # XMP keyword sidecars: test_xmp.py calls the module and ingests in-process,
    # test_search_tag.py's `tag` rewrites sidecars, test_repair.py's re-ingests give way
    # to a camera's XMP come to the card later (`give_way`) and repair the sidecars.
    "archive/xmp": [
        "tests/test_xmp_mutants.py",
        "tests/test_xmp.py",
        "tests/test_search_tag.py",
        "tests/test_repair.py",
    ],
    # A re-ingest's repair of damaged or missing copies: test_repair.py calls `repair_copies`
    # and runs ingests in-process; test_backup_moved.py's ingests reach it with a backup.
    "archive/repair": [
        "tests/test_repair_mutants.py",
        "tests/test_repair.py",
        "tests/test_backup_moved.py",
    ],
    # The photo `move` and `tag` name on the command line, both run in-process there.
    "archive/targets": [
        "tests/test_targets_mutants.py",
        "tests/test_move.py",
        "tests/test_search_tag.py",
    ],
    # Durable writes. test_dicom.py (write_new, the dead-temporary sweep of an export's
    # folder; ~40 s) is left out: test_modes_mutants reaches the same functions directly.
    # writing_to and writing_beside are context managers, which mutmut does not mutate.
    "storage/durable": [
        "tests/test_durable_mutants.py",
        "tests/test_modes_mutants.py",
        "tests/test_folder_syncs.py",
        "tests/test_transfer.py",
        "tests/test_transfer_mutants.py",
        "tests/test_transfer_held.py",
        "tests/test_readback.py",
        "tests/test_lock.py",
        "tests/test_lock_mutants.py",
        "tests/test_xmp.py",
        "tests/test_share.py",
        "tests/test_layout.py",
    ],
    # Modes, umask and ACL checks: the permission tests and those of the files and folders
    # made with them (temporaries, durable writes, verify's fix, --out folders, ID maps),
    # each calling the module in-process.
    "storage/modes": [
        "tests/test_modes_mutants.py",
        "tests/test_permissions.py",
        "tests/test_folder_syncs.py",
        "tests/test_special_files.py",
        "tests/test_scratch.py",
        "tests/test_verify_mutants.py",
        "tests/test_share.py",
        "tests/test_map_template.py",
        "tests/test_prepare_mutants.py",
    ],
    # File times read from a FAT volume's own entries (fusefat's are a month late): the
    # images are made by mkfs.vfat and mtools; the CLI tests there run in-process.
    "card/fattimes": ["tests/test_fattimes_mutants.py", "tests/test_fat_times.py"],
    # Whether a TIFF-based RAW or a CR3/HEIF ends before its header says: every capture
    # read reaches it, so the capture reads' tests, and the JPEG cut-short ones beside it.
    "card/truncated": [
        "tests/test_truncated_mutants.py",
        "tests/test_cut_short.py",
        *CAPTURE_READS,
    ],
    # `cardingest share`: every test here runs the CLI in-process (clinic_helpers.invoke);
    # test_slates_cli's and test_outside_archive's shares, the two permission tests and
    # test_readonly_archive's share reach it too (~40 s together). The kill -9 tests run the
    # CLI in a subprocess, which mutmut does not count.
    "clinic/share": [
        "tests/test_share_mutants.py",
        "tests/test_share.py",
        "tests/test_slates_cli.py",
        "tests/test_outside_archive.py",
        "tests/test_readonly_archive.py",
        "tests/test_permissions.py::test_nothing_created_is_open_to_others_under_umask_022",
        "tests/test_permissions.py::test_outputs_below_a_folder_every_account_may_change_are_refused",
    ],
    # Whether a folder lies inside another by device and inode (a bind mount, a second path):
    # test_identity_mutants.py calls it on real bind mounts and mountinfo text; the
    # refusals of outputs in the archive, the wipe's bind-mount tests and a DCIM on a RAM
    # disk reach it through the CLI in-process. test_overlap_identity.py runs the CLI in a
    # subprocess, which mutmut does not count: left out. `same_file` is reached by every
    # durable write; test_lock.py's links in place of its records are the ones that differ.
    "storage/identity": [
        "tests/test_identity_mutants.py",
        "tests/test_outside_archive.py",
        "tests/test_wipe.py::test_a_folder_mounted_inside_the_archive_is_refused",
        "tests/test_wipe.py::test_a_card_folder_that_is_the_archive_folder_keeps_its_photos",
        "tests/test_detect_mutants.py::test_a_folder_with_dcim_on_a_ram_disk_is_not_the_card_a_path_lies_on",
        "tests/test_lock.py",
        "tests/test_transfer.py::test_free_space_uses_nearest_existing_ancestor",
    ],
    # The mount table: /proc/self/mounts and mountinfo lines, fstab, read-only mounts. The
    # fstab refusal of test_cli.py, the wipe's mount and read-only tests, fattimes'
    # `holding` and test_detect_mutants.py's table lines reach it in-process (~5 s).
    "storage/mounts": [
        "tests/test_mounts_mutants.py",
        "tests/test_mounts.py",
        "tests/test_identity_mutants.py",
        "tests/test_detect_mutants.py",
        "tests/test_cli.py::test_an_archive_below_a_disk_fstab_mounts_and_none_mounted_is_refused",
        "tests/test_wipe.py::test_a_folder_mounted_inside_the_archive_is_refused",
        "tests/test_wipe.py::test_read_only_card_is_a_clear_error",
        "tests/test_wipe.py::test_read_only_found_at_the_first_removal",
        "tests/test_fat_times.py::test_a_folder_holding_a_fusefat_card_and_a_plain_folder_dates_each_by_its_own",
    ],
    # Which archive files other accounts can read, and `verify --fix-permissions`:
    # test_permissions.py runs verify and ingest in-process (clinic_helpers.cli) besides its
    # subprocess runs; test_verify_mutants.py calls `fix_permissions`; test_verify.py's
    # verify runs reach `find_exposed` (~15 s together, about 2.5 minutes a run).
    "archive/permissions": [
        "tests/test_permissions_mutants.py",
        "tests/test_permissions.py",
        "tests/test_verify.py",
        "tests/test_verify_mutants.py",
    ],
    # A read-only archive's catalogue, read from a private copy. `sqlite_could_fault` runs
    # in every `Catalogue.open`, so every test here reaches it; test_readonly_archive.py's
    # read-only bind mounts run the CLI in a subprocess (not counted by mutmut), the full
    # tmpfs test of test_full_disk.py reads through a copy in-process. `private_copy` and
    # `reading` are context managers, which mutmut does not mutate (checked by hand).
    "archive/readonly": [
        "tests/test_readonly_mutants.py",
        "tests/test_readonly_archive.py",
        "tests/test_verify_mutants.py",
        "tests/test_full_disk.py::test_a_full_archive_disk_is_a_message_and_can_still_be_checked",
    ],
    # `cardingest move`: test_move.py and test_targets_mutants.py run it in-process, as do
    # the few move tests of test_search_tag, test_slates_cli, test_rename_new and
    # test_journal. test_move_abandon.py (~28 s) reaches every function only through the
    # move each test sets up, and a surviving mutant ran it all (38 s a mutant): only its
    # refusals of edited journals (`_journal_fault`) are kept. test_backup_moved.py reaches
    # only `pending_move_*` (every ingest does), at 48 s: left out. The kill -9 scenarios
    # (tests/faults/test_mislabel.py) run the CLI in a subprocess: left out.
    "move": [
        "tests/test_move_mutants.py",
        "tests/test_move.py",
        "tests/test_targets_mutants.py",
        "tests/test_move_abandon.py::test_a_journal_short_of_a_field_is_refused_not_a_traceback",
        "tests/test_move_abandon.py::test_a_journal_that_is_json_but_no_object_is_kept",
        "tests/test_move_abandon.py::test_a_journal_with_a_crooked_sidecar_entry_is_abandoned",
        "tests/test_rename_new.py::test_a_move_on_a_drive_without_hard_links_never_renames_over_a_file_that_appeared",
        "tests/test_search_tag.py::test_a_camera_xmp_come_to_the_card_later_takes_its_photos_name",
        "tests/test_search_tag.py::test_a_camera_xmp_put_in_the_backup_later_takes_its_photos_name_there_too",
        "tests/test_slates_cli.py::test_a_move_leaves_the_slate_with_the_patient_it_names",
        "tests/test_journal.py::test_move_records_a_dead_runs_copies_first_so_they_can_be_moved",
    ],
    # A backup folder that moved (`catalogue backup-moved`): test_relocate_mutants.py runs
    # the CLI in-process (clinic_helpers.cli) and calls `relocate_backup`. The rest of
    # test_backup_moved.py runs the CLI in a subprocess, which mutmut does not count: only
    # its Ctrl-C test (in-process) is listed.
    "archive/relocate": [
        "tests/test_relocate_mutants.py",
        "tests/test_backup_moved.py::test_a_ctrl_c_as_the_catalogue_changes_waits_for_its_audit_event",
    ],
    # `audit --repair`: test_auditrepair_mutants.py calls the module and runs `audit
    # --repair` in-process (~3 s). test_audit_repair.py runs the CLI in a subprocess: with it
    # alone, no test reached any of the module's mutants (the first run): left out.
    "archive/auditrepair": ["tests/test_auditrepair_mutants.py"],
    # Not listed yet: export/run (`dicom export`, `dicom send`). test_dicom.py runs the
    # CLI in a subprocess (dicom_helpers.cli), which mutmut does not count: with it and
    # test_dicom_mutants.py, no test reached any of the module's 405 mutants (share round,
    # docs/testing.md). It needs tests that call `export_files` in-process first.
}

KILLED = {1, 3, 36, 24, -24, 152, 255, 37}
SURVIVED = {0}


def _config(module: str, tests: list[str]) -> str:
    return (
        "\n[tool.mutmut]\n"
        f'only_mutate = ["src/cardingest/{module}.py"]\n'
        'source_paths = ["src"]\n'
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
        'pytest_add_cli_args = ["-q", "-p", "no:cacheprovider", "-x"]\n'
        "timeout_multiplier = 10.0\n"
        "timeout_constant = 10.0\n"
        "use_git_change_detection = false\n"
        # Tests that read the README (test_pg_catalogue's roles, its setup text) find it.
        'also_copy = ["README.md"]\n'
    )


def _prepare(module: str, tests: list[str]) -> Path:
    work = WORK / module.replace("/", "-")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    shutil.copytree(ROOT / "src", work / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        ROOT / "tests", work / "tests", ignore=shutil.ignore_patterns("__pycache__", "faults")
    )
    # The fault injector only, which tests/terminal.py runs the CLI through (test_dicom's
    # killed and paused exports); the fault scenarios themselves stay out.
    (work / "tests" / "faults").mkdir()
    shutil.copy2(ROOT / "tests" / "faults" / "inject.py", work / "tests" / "faults")
    shutil.copy2(ROOT / "README.md", work)
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    (work / "pyproject.toml").write_text(text + _config(module, tests), encoding="utf-8")
    return work


_SQL_STRONG = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|PRAGMA|BEGIN|COMMIT|ROLLBACK|WHERE|JOIN|AND"
    r"|VALUES|LIMIT|EXISTS|CONFLICT|ORDER BY)\b|[=<>] \?|\bIS \?|\bIN \("
)
"""SQL as the code writes it: keywords in capitals, or a ``?`` placeholder."""
_SQL_NAME = re.compile(r"^[a-z][a-z0-9]*[._][a-z0-9_.]*$")
"""A column as the SQL names it (``file_id``, ``f.patient_id``, ``f.``): a dot or an
underscore, so a plain word compared in Python (``"delete"``, ``"wal"``) never counts."""
_PROSE = re.compile(r"[…$\"!]|--|: ")
_QUOTED = re.compile(r"'[^']*'")


def _sql_text(text: str) -> bool:
    """Whether a string constant is SQL (or a bare column name): SQL, not a message."""
    if _PROSE.search(text):
        return False
    return bool(_SQL_STRONG.search(text) or _SQL_NAME.match(text.strip()))


def _sql_case_only(before: ast.AST, after: ast.AST) -> bool:
    """The mutant only changes the letter case of SQL text, outside its quoted literals:
    SQLite (and PostgreSQL, unquoted) read keywords and names in any case, so nothing
    changes. ``'photo'`` → ``'PHOTO'`` inside the SQL is a real change and does not count."""
    if ast.dump(before, include_attributes=False) == ast.dump(after, include_attributes=False):
        return False
    changed = 0
    for old, new in zip(ast.walk(before), ast.walk(after), strict=False):
        if type(old) is not type(new):
            return False
        if isinstance(old, ast.Constant) and isinstance(new, ast.Constant):
            if old.value == new.value:
                continue
            a, b = old.value, new.value
            if not (isinstance(a, str) and isinstance(b, str) and a.lower() == b.lower()):
                return False
            if not _sql_text(a) or _QUOTED.findall(a) != _QUOTED.findall(b):
                return False
            changed += 1
    return changed > 0


def _functions(source: Path) -> dict[str, ast.AST]:
    """mutmut's trampolined functions (``x_name__mutmut_N``, ``…_orig``) in a mutated file."""
    if not source.is_file():
        return {}
    tree = ast.parse(source.read_text(encoding="utf-8"))
    found: dict[str, ast.AST] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and "__mutmut_" in node.name:
            found[node.name] = ast.Module(body=node.body, type_ignores=[])
    return found


def _scores(work: Path, module: str = "") -> tuple[Counter[str], list[str]]:
    counts: Counter[str] = Counter()
    survivors: list[str] = []
    functions = _functions(work / "mutants" / "src" / "cardingest" / f"{module}.py")
    for meta in sorted((work / "mutants").rglob("*.meta")):
        data = json.loads(meta.read_text(encoding="utf-8"))
        for name, code in sorted(data.get("exit_code_by_key", {}).items()):
            if code in KILLED:
                counts["killed"] += 1
                continue
            function = name.rsplit(".", 1)[-1]
            orig = functions.get(function.rsplit("__mutmut_", 1)[0] + "__mutmut_orig")
            mutant = functions.get(function)
            if orig is not None and mutant is not None and _sql_case_only(orig, mutant):
                counts["sql case"] += 1
                continue
            if code in SURVIVED:
                counts["survived"] += 1
            elif code in (5, 33):
                counts["no tests"] += 1
            else:
                counts[f"other({code})"] += 1
            survivors.append(name)
    return counts, survivors


def _stop_hung(parent: int, wall_limit: float) -> None:
    """Time out a mutant that waits forever (a lost wake-up, a lock never released).

    mutmut's own timeout is a CPU-time limit (RLIMIT_CPU), which a process asleep on a
    condition variable never reaches. A mutant process running longer than ``wall_limit``
    seconds gets the signal that limit would have sent (SIGXCPU), so mutmut records it as a
    timeout: a hang the tests noticed, i.e. killed.
    """
    try:
        children = psutil.Process(parent).children(recursive=True)
    except psutil.Error:
        return
    now = time.time()
    for child in children:
        try:
            title = " ".join(child.cmdline())  # setproctitle's "mutmut: <mutant name>"
            if title.startswith("mutmut: ") and now - child.create_time() > wall_limit:
                child.send_signal(signal.SIGXCPU)
        except psutil.Error:
            continue


def run(module: str, jobs: int, show: bool, wall_limit: float = 60.0) -> int:
    tests = [t for t in MODULES[module] if (ROOT / t.partition("::")[0]).exists()]
    work = _prepare(module, tests)
    env = dict(os.environ)
    # mutmut copies the sources to mutants/src after Python starts: the folder must exist
    # before, or the interpreter caches "no such path entry" and imports the originals.
    (work / "mutants" / "src").mkdir(parents=True)
    env["PYTHONPATH"] = str(work / "mutants" / "src")
    # The copy lives elsewhere, so point the tests at the real samples (else they skip and
    # every mutant they would have caught "survives"). No strict mode: skips stay skips.
    env.setdefault("CARDINGEST_SAMPLES", str(ROOT.parent / "shared" / "samples"))
    env.pop("CARDINGEST_STRICT", None)
    print(f"== {module}: mutating src/cardingest/{module}.py against {' '.join(tests)}")
    runner = subprocess.Popen(
        [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs)], cwd=work, env=env
    )
    try:
        while runner.poll() is None:
            _stop_hung(runner.pid, wall_limit)
            time.sleep(2)
    finally:
        if runner.poll() is None:
            runner.terminate()
            runner.wait()
    counts, survivors = _scores(work, module)
    total = sum(counts.values())
    killed = counts["killed"]
    score = 100.0 * killed / total if total else 0.0
    detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"== {module}: {killed}/{total} killed ({score:.1f}%): {detail}")
    if counts["sql case"]:
        # Equivalent by construction (see _sql_case_only): left out of the second score.
        real = total - counts["sql case"]
        print(
            f"== {module}: {killed}/{real} killed ({100.0 * killed / real:.1f}%) of the mutants"
            f" that change behaviour ({counts['sql case']} only change the case of SQL)"
        )
    for name in survivors:
        print(f"   survived: {name}")
        if show:
            subprocess.run(
                [sys.executable, "-m", "mutmut", "show", name], cwd=work, env=env, check=False
            )
    real = total - counts["sql case"]
    return 0 if real and 100.0 * killed / real >= 90.0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", help="e.g. ids plan/naming archive/audit")
    parser.add_argument("--all", action="store_true", help="every module in the list")
    parser.add_argument("--list", action="store_true", help="print the modules and tests")
    parser.add_argument("--jobs", type=int, default=1, help="mutants tested in parallel")
    parser.add_argument("--show", action="store_true", help="print each survivor's diff")
    parser.add_argument(
        "--wall-limit",
        type=float,
        default=60.0,
        help="seconds after which a mutant still running counts as timed out (a hang)",
    )
    args = parser.parse_args()
    if args.list:
        for module, tests in MODULES.items():
            print(f"{module:20} {' '.join(tests)}")
        return 0
    modules = list(MODULES) if args.all else args.modules
    unknown = [m for m in modules if m not in MODULES]
    if unknown or not modules:
        parser.error(f"name modules from --list (unknown: {', '.join(unknown) or 'none given'})")
    status = 0
    for module in modules:
        status |= run(module, args.jobs, args.show, args.wall_limit)
    return status


if __name__ == "__main__":
    sys.exit(main())
