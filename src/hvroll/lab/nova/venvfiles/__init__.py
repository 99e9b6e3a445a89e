"""Files that run inside the Nova lab's own virtual environment, not inside hvroll.

They import Nova, oslo and the standard library only; the lab copies or links them into that
environment (``hvlab_fake`` into ``nova.virt``, the others onto its ``sys.path``).
"""
