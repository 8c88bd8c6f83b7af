import ArgumentParser
import MLP
import MLPONNX

/// `mlp export`: a model file as an ONNX model, for ONNX Runtime and other runtimes.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model file as an ONNX model (opset \(ONNXExport.opsetVersion), "
            + "IR version \(ONNXExport.irVersion)) that ONNX Runtime runs.",
        discussion: """
            The graph takes "input", float32 [batch, inputs] (a model trained on a table with categorical columns or missing \
            values: one input per column, named after it, [batch, 1], float32 or string), and gives "logits" and, for \
            cross-entropy models, "probabilities" (softmax along axis 1). The model's standardization (--standardize) is inside the graph \
            (Sub, Mul), then one Gemm per layer with the hidden activation after each hidden layer. float64 models \
            are exported as float32 (parameters rounded). The class, feature and target names are in the model's \
            metadata_props. See docs/export.md.
            """)

    @Option(help: ArgumentHelp("The model (safetensors, as written by --save or --checkpoint).", valueName: "file"))
    var model: String

    @Option(help: ArgumentHelp("The ONNX file to write (written atomically).", valueName: "file.onnx"))
    var output: String

    @OptionGroup
    var foreign: ForeignModelOptions

    func run() throws {
        try withoutCommunicator {
            var written: ONNXExport.Summary?
            try stoppingQuietlyIfTheReaderLeft {
                written = try runONNXExport(model: model, output: output, loss: foreign.loss, activation: foreign.activation)
            }
            guard let summary = written else { return }
            var details = ["input [\(ONNXExport.batchDimension), \(summary.layerSizes[0])]"]
            if let (numeric, categorical) = summary.columns {
                details = ["inputs: \(numeric) numeric column\(numeric == 1 ? "" : "s") (float32, NaN missing) and \(categorical) "
                           + "categorical (string), each [\(ONNXExport.batchDimension), 1]; median imputation, indicators and one-hot "
                           + "inside"]
            }
            if summary.standardized { details.append("standardized") }
            details.append("\(summary.layerSizes.map(String.init).joined(separator: "-")) \(summary.activation.rawValue)")
            details.append("outputs \(summary.outputs.joined(separator: ", "))")
            if summary.sourcePrecision == .float64 { details.append("float64 parameters rounded to float32") }
            standardOutput.line("wrote \(output) (ONNX opset \(ONNXExport.opsetVersion), IR version \(ONNXExport.irVersion), "
                                + "\(summary.bytes) bytes): \(details.joined(separator: "; "))")
        }
    }
}
