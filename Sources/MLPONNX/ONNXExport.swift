import Foundation
import MLP
import SwiftProtobuf

/// A model file as an ONNX model (`mlp export`): the same function from features to outputs,
/// as a graph that ONNX Runtime, or any runtime of opset 17, runs. See docs/export.md.
///
/// The graph, for an input X of shape [batch, U_0] (float32; `batch` is a dim_param):
///
///     X − mean, then × (1/std)             Sub, Mul: only for a model trained with --standardize
///     Z⁽ˡ⁾ = Q⁽ˡ⁻¹⁾W⁽ˡ⁾ᵀ + 1b⁽ˡ⁾ᵀ          Gemm (transB = 1), l = 1…L; W⁽ˡ⁾ [U_l, U_{l−1}] as stored
///     Q⁽ˡ⁾ = h(Z⁽ˡ⁾)                         Relu, Tanh or Sigmoid, after every hidden layer
///     logits = Z⁽ᴸ⁾, probabilities = softmax(Z⁽ᴸ⁾) along axis 1 (cross-entropy models only)
///
/// Everything is float32: a float64 model's parameters and statistics are rounded to float32.
public enum ONNXExport {
    /// The ONNX operator set the graph uses (the default domain, ai.onnx): every operator here
    /// has had its present definition since opset 13 or earlier.
    public static let opsetVersion: Int64 = 17
    /// The IR version that goes with opset 17 (onnx 1.12): runs on ONNX Runtime 1.12 and later.
    public static let irVersion: Int64 = 8

    /// The names of the graph's input and outputs, and its batch dimension.
    public static let inputName = "input", logitsName = "logits", probabilitiesName = "probabilities"
    public static let batchDimension = "batch"

    /// `metadata_props` keys: the model file's own metadata keys (docs/model-files.md), each a
    /// JSON array of strings where it is a list, plus `source_precision`.
    public enum MetadataKey {
        public static let classNames = "class_names", featureNames = "feature_names", targetNames = "target_names"
        public static let loss = "loss", activation = "activation", layerSizes = "layer_sizes"
        /// `float32` or `float64`: the model file's dtype (float64 parameters were rounded to float32).
        public static let sourcePrecision = "source_precision"
        /// A model with a preprocessing: the graph's inputs (the raw columns), the categorical ones
        /// among them (string inputs), and the spellings of a missing category.
        public static let inputColumns = "input_columns", categoricalColumns = "categorical_columns"
        public static let missingValues = "missing_values"
    }

    /// The operator set of a preprocessing's `LabelEncoder` (version 2) and `OneHotEncoder`.
    public static let mlDomain = "ai.onnx.ml", mlOpsetVersion: Int64 = 2

    /// What was exported, for the command's report.
    public struct Summary: Sendable {
        public var layerSizes: [Int]
        public var activation: Activation
        public var loss: Loss
        public var standardized: Bool
        /// The model file's dtype; float64 was rounded to float32.
        public var sourcePrecision: Precision
        public var outputs: [String]
        public var bytes: Int
        /// A model with a preprocessing: its numeric (float32) and categorical (string) inputs.
        public var columns: (numeric: Int, categorical: Int)?
    }

    /// The ONNX model of `file`, serialized.
    ///
    /// - Parameters:
    ///   - path: names the model file in errors.
    ///   - loss, activation: for files without mlp metadata; must agree with it where present.
    ///     Without either, a file without metadata exports as a regression model (logits only)
    ///     with relu, as `mlp predict` reads it.
    public static func encode(_ file: ModelFile, path: String, loss: Loss? = nil,
                              activation: Activation? = nil) throws -> (bytes: [UInt8], summary: Summary) {
        let loss = try agreeing(loss, file.loss, "--loss", path: path) ?? .squaredError
        let activation = try agreeing(activation, file.activation, "--activation", path: path) ?? .relu
        let model = try model(of: file, path: path, loss: loss, activation: activation)
        let bytes: [UInt8] = try model.serializedBytes()
        // A protobuf message is at most 2 GiB; `model(of:)` refused larger parameters already.
        guard bytes.count <= Int(Int32.max) else {
            throw InputError("\(path): its ONNX model would take \(bytes.count) bytes, more than the 2 GiB a protobuf file can hold")
        }
        let summary = Summary(layerSizes: file.layerSizes, activation: activation, loss: loss,
                              standardized: file.standardization != nil, sourcePrecision: file.precision,
                              outputs: model.graph.output.map(\.name), bytes: bytes.count,
                              columns: file.preprocessing.map { ($0.numericColumns.count, $0.categoricalColumns.count) })
        return (bytes, summary)
    }

    /// `option` unless the file says otherwise; nil when neither says.
    private static func agreeing<Value: RawRepresentable & Equatable>(_ option: Value?, _ stored: Value?, _ name: String,
                                                                     path: String) throws -> Value? where Value.RawValue == String {
        if let option, let stored, option != stored {
            throw InputError("\(name) \(option.rawValue) disagrees with \(path), which was trained with \(stored.rawValue)")
        }
        return option ?? stored
    }

    /// The model proto: the graph, its opset, and the names as `metadata_props`.
    static func model(of file: ModelFile, path: String, loss: Loss, activation: Activation) throws -> Onnx_ModelProto {
        let sizes = file.layerSizes
        // float32 bytes of θ (and the statistics): past 2 GiB ONNX needs external data files.
        let floatCount = file.parameters.count + (file.standardization == nil ? 0 : 2 * sizes[0])
        guard floatCount <= (Int(Int32.max) - (1 << 20)) / 4 else {
            throw InputError("\(path): its \(floatCount) parameters take \(4 * floatCount) bytes as float32, "
                             + "more than the 2 GiB an ONNX file holds without external data")
        }
        var graph = Onnx_GraphProto()
        graph.name = "mlp"
        var builder = GraphBuilder(graph: graph, path: path)
        var current = inputName
        if let preprocessing = file.preprocessing {
            // One input per raw column; the nodes that make the network's inputs from them.
            current = try builder.preprocess(preprocessing, path: path)
        } else {
            builder.graph.input = [tensorInfo(inputName, columns: sizes[0])]
        }

        if let standardization = file.standardization {
            // As `Standardization.apply` computes it: (x − mean) × (1/std), the shift and scale in
            // the model's precision. In float32 that is Float(mean) and 1 / Float(std), so the
            // exported graph's inputs to the first layer are the same floats. A stored std is never
            // 0 (a constant feature is stored with std 1, and reading refuses std ≤ 0); a 0 would
            // be taken as 1, as `Standardization(of:)` does.
            let deviations = standardization.standardDeviation.map { $0 > 0 ? $0 : 1 }
            let mean = standardization.mean.map { Float($0) }
            let scale = file.precision == .float32 ? deviations.map { 1 / Float($0) } : deviations.map { Float(1 / $0) }
            try builder.initializer("standardization.mean", shape: [sizes[0]], mean, exact: standardization.mean)
            try builder.initializer("standardization.scale", shape: [sizes[0]], scale, exact: deviations.map { 1 / $0 })
            builder.node("Sub", name: "standardization.subtract_mean", [current, "standardization.mean"], "standardization.centred")
            builder.node("Mul", name: "standardization.scale", ["standardization.centred", "standardization.scale"], "standardized")
            current = "standardized"
        }

        let layout = ParameterLayout(layerSizes: sizes)
        for l in 1 ... layout.layerCount {
            let units = sizes[l], inputs = sizes[l - 1], prefix = "layers.\(l - 1)"
            let weights = file.parameters[layout.weightOffsets[l - 1] ..< layout.weightOffsets[l - 1] + units * inputs]
            let biases = file.parameters[layout.biasOffsets[l - 1] ..< layout.biasOffsets[l - 1] + units]
            // W⁽ˡ⁾ row-major [U_l, U_{l−1}], as in the model file (PyTorch's nn.Linear.weight).
            try builder.initializer("\(prefix).weight", shape: [units, inputs], weights.map { Float($0) }, exact: Array(weights))
            try builder.initializer("\(prefix).bias", shape: [units], biases.map { Float($0) }, exact: Array(biases))
            let isLast = l == layout.layerCount
            let z = isLast ? logitsName : "\(prefix).Z"
            builder.node("Gemm", name: "\(prefix).gemm", [current, "\(prefix).weight", "\(prefix).bias"], z,
                         attributes: [integerAttribute("transB", 1)])
            if !isLast {
                builder.node(activation.onnxOperator, name: "\(prefix).\(activation.rawValue)", [z], "\(prefix).Q")
                current = "\(prefix).Q"
            }
        }
        builder.graph.output = [tensorInfo(logitsName, columns: sizes.last!)]
        if loss == .crossEntropy {
            builder.node("Softmax", name: "softmax", [logitsName], probabilitiesName, attributes: [integerAttribute("axis", 1)])
            builder.graph.output.append(tensorInfo(probabilitiesName, columns: sizes.last!))
        }

        var model = Onnx_ModelProto()
        model.irVersion = irVersion
        model.opsetImport = [Onnx_OperatorSetIdProto.with { $0.domain = ""; $0.version = opsetVersion }]
        if file.preprocessing != nil {
            model.opsetImport.append(Onnx_OperatorSetIdProto.with { $0.domain = mlDomain; $0.version = mlOpsetVersion })
        }
        model.producerName = "mlp"
        model.docString = "A \(sizes.map(String.init).joined(separator: "-")) multilayer perceptron (\(activation.rawValue), "
            + "\(loss.rawValue)) exported by mlp export"
        model.graph = builder.graph
        model.metadataProps = metadata(of: file, loss: loss, activation: activation).map { key, value in
            Onnx_StringStringEntryProto.with { $0.key = key; $0.value = value }
        }
        return model
    }

    /// The model's names and settings as (key, value) pairs, in a fixed order.
    static func metadata(of file: ModelFile, loss: Loss, activation: Activation) -> [(String, String)] {
        var pairs: [(String, String)] = [
            (MetadataKey.loss, loss.rawValue), (MetadataKey.activation, activation.rawValue),
            (MetadataKey.layerSizes, "[" + file.layerSizes.map(String.init).joined(separator: ",") + "]"),
        ]
        if loss == .crossEntropy, let names = file.classNames { pairs.append((MetadataKey.classNames, jsonArray(names))) }
        if let names = file.featureNames { pairs.append((MetadataKey.featureNames, jsonArray(names))) }
        if let names = file.targetNames { pairs.append((MetadataKey.targetNames, jsonArray(names))) }
        if let preprocessing = file.preprocessing {
            pairs.append((MetadataKey.inputColumns, jsonArray(preprocessing.columns.map(\.name))))
            pairs.append((MetadataKey.categoricalColumns, jsonArray(preprocessing.categoricalColumns.map(\.name))))
            pairs.append((MetadataKey.missingValues, jsonArray(preprocessing.options.missingValues)))
        }
        pairs.append((MetadataKey.sourcePrecision, file.precision.rawValue))
        return pairs
    }

    /// The value info of a float32 tensor [batch, columns].
    static func tensorInfo(_ name: String, columns: Int) -> Onnx_ValueInfoProto {
        Onnx_ValueInfoProto.with {
            $0.name = name
            $0.type.tensorType.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
            $0.type.tensorType.shape.dim = [
                Onnx_TensorShapeProto.Dimension.with { $0.dimParam = batchDimension },
                Onnx_TensorShapeProto.Dimension.with { $0.dimValue = Int64(columns) },
            ]
        }
    }

    static func integerAttribute(_ name: String, _ value: Int64) -> Onnx_AttributeProto {
        Onnx_AttributeProto.with { $0.name = name; $0.type = .int; $0.i = value }
    }

    /// A JSON array of strings, as the model file writes its names.
    static func jsonArray(_ items: [String]) -> String {
        let data = try! JSONSerialization.data(withJSONObject: items, options: [.withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }
}

/// A graph being built: nodes in order, initializers beside them.
struct GraphBuilder {
    var graph: Onnx_GraphProto
    let path: String

    /// A float32 initializer, little-endian in `raw_data`. Values a float64 model holds beyond
    /// float32's range (they round to ±∞) are refused: the exported graph would compute ∞ or NaN.
    ///
    /// - Parameter exact: the values before rounding to float32, for the error.
    mutating func initializer(_ name: String, shape: [Int], _ values: [Float], exact: [Double]) throws {
        precondition(shape.reduce(1, *) == values.count && exact.count == values.count,
                     "\(name): shape \(shape) does not hold \(values.count) values")
        if let index = values.firstIndex(where: { !$0.isFinite }) {
            let place = shape.count == 2 ? "row \(index / shape[1]), column \(index % shape[1])" : "element \(index)"
            throw InputError("\(path): \(name) holds \(exact[index]) at \(place), beyond float32's range (±3.4e38): "
                             + "the model cannot be exported as float32")
        }
        var bytes = Data(capacity: 4 * values.count)
        for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        graph.initializer.append(Onnx_TensorProto.with {
            $0.name = name
            $0.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
            $0.dims = shape.map(Int64.init)
            $0.rawData = bytes
        })
    }

    mutating func node(_ operator: String, name: String, _ inputs: [String], _ output: String,
                       attributes: [Onnx_AttributeProto] = [], domain: String = "") {
        graph.node.append(Onnx_NodeProto.with {
            $0.opType = `operator`
            $0.domain = domain
            $0.name = name
            $0.input = inputs
            $0.output = [output]
            $0.attribute = attributes
        })
    }
}

extension Activation {
    /// The ONNX operator that computes h element-wise.
    var onnxOperator: String {
        switch self {
        case .relu: return "Relu"
        case .tanh: return "Tanh"
        case .sigmoid: return "Sigmoid"
        }
    }
}

/// Writes the ONNX model of the model file at `model` to `output` (`mlp export`), atomically
/// (temporary file, fsync, rename).
///
/// Throws an `InputError` before reading anything if `output` is the model file (by device and
/// inode) or a path `export --output` does not accept (`OutputPath`), and for a model file that
/// cannot be read or exported; a `WriteError` if writing fails; `OutputStreamClosed` if a
/// stream's reader has gone.
public func runONNXExport(model path: String, output given: String, loss: Loss?, activation: Activation?) throws -> ONNXExport.Summary {
    try refuseOverlappingFiles(reads: [NamedFile("--model", path)], writes: [NamedFile("--output", given)])
    let output = try OutputPath(given, for: .exportOutput)
    let file = try ModelFile.read(path: path)
    let (bytes, summary) = try ONNXExport.encode(file, path: path, loss: loss, activation: activation)
    try output.write(bytes)
    return summary
}
