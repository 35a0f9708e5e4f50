"""``config.pbtxt`` tensors as contract specs, to compare configs with ``triton_ingest.contracts``."""

from __future__ import annotations

from tritonclient.grpc import model_config_pb2 as mc

from triton_ingest.contracts import ModelSpec, TensorSpec


def as_spec(tensor) -> TensorSpec:
    """One ``input``/``output`` entry of a parsed config as the contract's TensorSpec."""
    dtype = mc.DataType.Name(tensor.data_type).removeprefix("TYPE_")
    ragged = getattr(tensor, "allow_ragged_batch", False)
    optional = getattr(tensor, "optional", False)
    return TensorSpec(tensor.name, dtype, tuple(tensor.dims), optional=optional, ragged=ragged)


def spec_of(config: mc.ModelConfig) -> tuple:
    """What a config says of the contract: name, max batch, inputs, outputs, decoupled."""
    return (config.name, config.max_batch_size, tuple(as_spec(t) for t in config.input),
            tuple(as_spec(t) for t in config.output), config.model_transaction_policy.decoupled)


def contract_of(spec: ModelSpec) -> tuple:
    """The same tuple, from the contract."""
    return (spec.name, spec.max_batch_size, spec.inputs, spec.outputs, spec.decoupled)
