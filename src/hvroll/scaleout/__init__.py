"""Scale-out: Temporal places, supervises and restarts one executor per region.

``hvroll run PLAN --state URL --engine temporal`` starts (or finds) the campaign's workflow
(:mod:`.workflow`): one long activity per region on task queue ``hvroll-REGION``.
``hvroll worker`` (:mod:`.worker`) serves the queues of some regions; its activity runs the
region's executor and heartbeats every turn. :mod:`.names` holds the pure decisions, and
:mod:`.client` starts, follows and describes a campaign's workflow. The executor keeps every
decision about the campaign; the shared state is the store (PostgreSQL).
"""
