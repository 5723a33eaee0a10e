"""The start-up room: everything done for start-up speed, and nowhere else.

Provisioning tools run the headless commands (``show``, ``set``, ``check --offline``, a
``--help``) in loops, and a person waits for the TUI's first frame. Each trick below does
something other than the plain way in exchange for time, so each says what it saves,
measured, and which test holds it (test files by their name, somewhere under tests/).
The package imports nothing heavy (an import-linter contract: no pydantic, Textual, Rich,
tomlkit, aiosmtplib, engine, CLI or TUI), and its ``__init__`` imports nothing at all:
each user imports the one submodule it needs.

Figures: ``python bench/bench_startup_room.py --runs 11`` runs every command with the trick
on and with it undone from outside, in fresh processes, paired and alternating; "off/on" is
the median of the pairs' ratios. 2026-12-08 on the team's 2-core box under a load of 5-9
(four engineers at work), so milliseconds swing by tens between runs; ratios are steadier.
A whole ``show`` took 0.17-0.36 s there, ``python -c pass`` about 0.08 s.

1. **Only the command's module is imported** (:func:`program.requested_command`, used by
   ``cli.build_parser(only=...)``). The command word is read before argparse, and only the
   module registering that command is imported: every module would cost each ``show``
   28-64 ms (off/on 1.05-1.08). Trade-off: ``--help`` and an unknown word build the whole
   parser. Held by test_cli_config.py::test_only_the_requested_commands_module_is_imported
   and test_import_hygiene.py::test_headless_commands_leave_out_what_they_do_not_use.

2. **The settings' keys and docs without the model** (:mod:`declared`). The help texts'
   key lists and the TUI's ``f1`` read ``settings.py`` with :mod:`ast` instead of importing
   it (pydantic, pydantic-settings, the model's build): ``set --help`` off/on 2.5-2.8,
   226-263 ms. Trade-off: a second reading of settings.py that must agree with the model.
   Held by test_import_hygiene.py::test_declared_keys_and_docs_agree_with_the_model
   and test_import_hygiene.py::test_help_and_usage_errors_do_not_import_pydantic.

3. **asyncio deferred while pydantic_settings is imported** (:func:`lazy.asyncio_deferred`,
   used by settings.py). pydantic_settings 2.14's ``main.py`` runs ``import asyncio`` at its
   top for ``CliApp.run``, which tui-mailsetup never calls; asyncio (with ssl, socket,
   subprocess, concurrent.futures) is 22-30 ms by ``python -X importtime``, and ``show`` /
   ``check --offline`` with it imported took 9-51 ms more (off/on 1.04-1.20). While the
   import runs, a :class:`lazy.ModuleOnFirstUse` answers ``import asyncio``; it leaves
   ``sys.modules`` when the import ends, and hands any attribute over to the real module.
   Nothing plainer keeps that time, measured: importing only ``pydantic_settings.sources``
   still runs the package's ``__init__``, which imports ``main`` and so asyncio;
   ``importlib.util.LazyLoader`` in ``sys.modules`` loads asyncio on the spot (the import
   statement reads the module's spec); and the settings model is pydantic-settings by the
   house rules. Held by test_import_hygiene.py::test_asyncio_imported_after_the_settings_is_the_real_module,
   test_import_hygiene.py::test_asyncio_first_used_through_pydantic_settings_is_the_real_module,
   test_import_hygiene.py::test_asyncio_imported_before_the_settings_is_left_alone.

4. **What is needed only sometimes is imported on first use** (:mod:`lazy`: one helper for
   every case). The SMTP ladder's diagnosis rules (``on_first_use``) are read at the first
   failure, and a send that works never reads them (8-9 ms by ``-X importtime``; paired
   whole runs -3 to 18 ms, within this box's noise); check's stages and get-secret's keys
   are argparse ``choices`` computed when asked (``LazySequence``), so ``show`` and ``set``,
   which register ``check`` too, do not import engine/events.py (8 ms by ``-X importtime``;
   paired ``show`` 0-7 ms).
   Held by test_startup_room.py::test_the_diagnosis_rules_are_imported_when_first_read,
   test_import_hygiene.py::test_a_password_send_test_imports_only_what_it_uses and
   test_startup_room.py::test_a_lazy_sequence_is_computed_once_when_first_asked.

5. **The TUI's first frame from a cheap read** (:mod:`peek`). The first frame is drawn from
   the file's raw values (``tomllib``, no model) and the configuration is loaded in a thread
   right after it. ``bench/bench_startup.py --only tui --runs 5``: first frame 0.71 s (first
   run) / 0.64 s (returning), 1.41 / 1.28 x a bare Textual app; the values in at 1.23 /
   1.93 s: the frame comes 0.5-1.3 s before the model would have let it. Trade-off: two
   reads, and the full load wins when they disagree.
   Held by test_tui_startup.py::test_wizard_first_frame_and_keys_typed_before_the_load
   and test_import_hygiene.py::test_the_tui_app_does_not_import_the_settings_model.

6. **How a command ends** (:func:`program.finish`). ``show``, ``set``, ``set-secret``,
   ``check`` and ``send-test`` end with ``os._exit`` once their output is flushed: the
   interpreter's shutdown, freeing pydantic's and asyncio's objects one by one, took
   15-78 ms (off/on 1.09-1.33). Decided from the command word in ``cli.run`` alone, so a
   ``cli.main`` called in a process (tests, embedders) arms nothing. Trade-off: no atexit
   handler runs after those commands (they register none). Held by
   test_cli_config.py::test_the_programs_quick_exit_loses_no_output and
   test_startup_room.py::test_an_in_process_command_leaves_no_quick_exit_armed.

7. **Raw mode before the heavy imports** (:func:`program.raw_early`). Not a saving but what
   the TUI's start costs a typist: keys typed during its 0.2-0.4 s would be cooked by the
   line discipline (an Enter lost as ctrl+j). Held by test_tui_terminal.py.

The TUI-side part is ``tui/first_frame.py``, in tui/ because it is Textual: the app writes
the first frame Textual drops inside its start-up batch, and the form screen's first resume
skips a restyle and a focus flash; ``tui/keys.py`` holds typed keys until the values are in
(a burst's order, not speed, is its reason). The private Textual
members they use are pinned one by one in test_textual_surface.py (and Textual itself
to the exact version tested).

Not tricks but the house rule: optional libraries (httpx, botocore, authlib, …) are imported
inside the driver or command that uses them (bench/bench_startup.py,
test_import_hygiene.py).
"""
