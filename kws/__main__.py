"""`python -m kws` (and `torchrun --nproc_per_node=N -m kws ...`): the kws command."""
from kws.app import cli

cli()
