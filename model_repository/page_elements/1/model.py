"""Triton Python models `ocr_detector`, `ocr_recognizer`, `ocr_recognizer_ch`, `page_elements` and
`table_structure` (config parameter onnx_file): one ONNX image model each, on ONNX Runtime; the
tensors come from the model's contract."""

from triton_ingest.contracts import MODELS
from triton_ingest.models.artifacts import artifact
from triton_ingest.models.image_models import ImageModelSettings, OnnxImageModel
from triton_ingest.serving import triton_adapter as adapter


class TritonPythonModel:
    def initialize(self, args):
        params = adapter.model_params(args)
        self.spec = MODELS[args["model_name"]]
        self.input, self.output = self.spec.inputs[0].name, self.spec.outputs[0].name
        height = self.spec.inputs[0].dims[1]
        self.model = OnnxImageModel(artifact(params["onnx_file"]), self.input, ImageModelSettings.from_params(params),
                                    fixed_height=height if height > 0 else None)

    def execute(self, requests):
        return adapter.execute(requests, self.spec, self._run)

    def _run(self, inputs):
        results = self.model.run_requests([i[self.input] for i in inputs])
        return [r if isinstance(r, Exception) else {self.output: r} for r in results]
