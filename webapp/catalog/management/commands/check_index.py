"""``python manage.py check_index [--repair] [--sync] [--json]``: does Milvus still match the catalog?

Compares the live vector collection with the database (see
webapp.catalog.index_check): vectors missing for indexed images, vectors of
images that no longer exist, and vectors whose fields (product, garment type,
category, active flag, extractor version) disagree with the database. Prints
the counts and a few image ids of each kind; ``--repair`` fixes them and
checks again. Images that need the models again are queued for the workers,
or indexed by this command with ``--sync``.

Exit status: 0 when the index matches (after ``--repair``: when the check
after the repair is clean), 1 when problems remain, 2 when the check could
not run (Milvus unreachable, a live collection of another extractor version).
"""
from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from engine.vector_index import VectorIndexError
from webapp.catalog.index_check import IndexReport, RepairResult, check_index, repair


class Command(BaseCommand):
    help = "Compare the vector index with the catalog (missing, extra, stale vectors); --repair fixes them."

    def add_arguments(self, parser):
        parser.add_argument("--repair", action="store_true", help="fix what the check finds, then check again")
        parser.add_argument("--sync", action="store_true",
                            help="with --repair: index images that need the models here instead of queueing them")
        parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
        parser.add_argument("--examples", type=int, default=10, metavar="N",
                            help="image ids to show per kind of problem (default 10)")
        parser.add_argument("--no-requeue", action="store_true",
                            help="with --repair: leave pending images alone instead of queueing them again")

    def handle(self, *args, **options):
        if options["sync"] and not options["repair"]:
            raise CommandError("--sync only applies with --repair", returncode=2)
        examples = max(0, options["examples"])
        try:
            report = check_index()
            fixed = after = None
            if options["repair"] and (not report.clean or (report.pending and not options["no_requeue"])):
                fixed = repair(report, sync=options["sync"], requeue_pending=not options["no_requeue"])
                after = check_index()
        except VectorIndexError as error:
            raise CommandError(f"cannot check the vector index: {error}", returncode=2) from error

        final = after or report
        if options["json"]:
            out = report.to_dict(examples)
            if fixed is not None:
                out["repair"] = fixed.to_dict()
                out["after_repair"] = after.to_dict(examples)
            self.stdout.write(json.dumps(out, indent=2))
        else:
            self._describe(report, examples)
            if fixed is not None:
                self._describe_repair(fixed)
                self.stdout.write("after the repair:")
                self._describe(after, examples)
        if not final.clean:
            sys.exit(1)

    def _describe(self, report: IndexReport, examples: int) -> None:
        self.stdout.write(
            f"live collection {report.collection} ({report.extractor}): {report.vectors} vectors; "
            f"{report.images} images in the database ({report.indexed} indexed, {len(report.pending)} pending, "
            f"{report.failed} failed)"
        )
        self.stdout.write(f"  missing: {_count(report.missing, examples)}")
        self.stdout.write(f"  extra:   {_count(report.extra, examples)}")
        stale = sorted(report.stale)
        shown = "; ".join(f"{pk} ({', '.join(report.stale[pk])})" for pk in stale[:examples])
        more = ", ..." if len(stale) > examples else ""
        self.stdout.write(f"  stale:   {len(stale)}" + (f" (image ids {shown}{more})" if shown else ""))
        self.stdout.write(f"  pending: {_count(report.pending, examples)}")
        if report.clean:
            self.stdout.write(self.style.SUCCESS("the vector index matches the database"))
        else:
            self.stdout.write(self.style.WARNING(
                f"{report.problems} problem(s) found; run with --repair to fix them"
            ))

    def _describe_repair(self, fixed: RepairResult) -> None:
        self.stdout.write(
            f"repaired: {len(fixed.deleted)} vectors deleted, {len(fixed.rewritten)} rewritten from stored embeddings, "
            f"{len(fixed.reindexed)} indexed again, {len(fixed.failed)} failed to index, "
            f"{len(fixed.queued)} queued for the workers, {len(fixed.requeued)} pending images queued again"
        )
        for pk, reason in list(fixed.failed.items())[:10]:
            self.stdout.write(f"  image {pk}: {reason}")


def _count(ids, examples: int) -> str:
    if not ids or not examples:
        return str(len(ids))
    more = ", ..." if len(ids) > examples else ""
    return f"{len(ids)} (image ids {', '.join(str(pk) for pk in ids[:examples])}{more})"
