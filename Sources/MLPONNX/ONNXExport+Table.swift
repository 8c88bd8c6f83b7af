import Foundation
import MLP

/// The preprocessing of a model trained on a table (`TablePreprocessing`) as ONNX nodes: the
/// graph then takes the raw columns, one input each, named after the column, shape [batch, 1]:
///
///     numeric column x (float32, NaN = missing)   IsNaN → Where(missing, median, x); Cast(missing) → COL_missing
///     categorical column s (string)               LabelEncoder (ai.onnx.ml): the text → its one-hot column,
///                                                 every missing spelling and "" → the missing column,
///                                                 an infrequent category → the infrequent one, else −1;
///                                                 OneHotEncoder (zeros = 1: −1 is all zeros) → Reshape [batch, width]
///     Concat along axis 1, in the network's input order → the standardization and the layers
extension GraphBuilder {
    /// Adds the inputs and nodes; returns the value that holds the network's inputs [batch, U_0].
    mutating func preprocess(_ preprocessing: TablePreprocessing, path: String) throws -> String {
        let features = "preprocessing.features"
        var values: [String] = [], indicators: [String] = [], blocks: [String] = []
        var internalNames: Set<String> = [features, ONNXExport.logitsName, ONNXExport.probabilitiesName]
        for (k, column) in preprocessing.columns.enumerated() {
            let prefix = "preprocessing.\(k)"
            internalNames.formUnion(["missing", "imputed", "indicator", "index", "one_hot", "block", "median", "shape"].map { "\(prefix).\($0)" })
            switch column {
            case .numeric(let numeric):
                graph.input.append(ONNXExport.columnInfo(numeric.name, type: .float))
                node("IsNaN", name: "\(prefix).is_nan", [numeric.name], "\(prefix).missing")
                try initializer("\(prefix).median", shape: [1], [Float(numeric.median)], exact: [numeric.median])
                node("Where", name: "\(prefix).impute", ["\(prefix).missing", "\(prefix).median", numeric.name], "\(prefix).imputed")
                values.append("\(prefix).imputed")
                if numeric.indicator {
                    node("Cast", name: "\(prefix).indicate", ["\(prefix).missing"], "\(prefix).indicator",
                         attributes: [ONNXExport.integerAttribute("to", Int64(Onnx_TensorProto.DataType.float.rawValue))])
                    indicators.append("\(prefix).indicator")
                }
            case .categorical(let categorical):
                graph.input.append(ONNXExport.columnInfo(categorical.name, type: .string))
                var keys: [String] = [], indices: [Int64] = []
                for (index, category) in categorical.categories.enumerated() { keys.append(category); indices.append(Int64(index)) }
                for category in categorical.infrequent { keys.append(category); indices.append(Int64(categorical.infrequentIndex)) }
                if categorical.missingIndex >= 0 {
                    for spelling in preprocessing.options.missingValues + [""] where !keys.contains(where: { $0.utf8.elementsEqual(spelling.utf8) }) {
                        keys.append(spelling)
                        indices.append(Int64(categorical.missingIndex))
                    }
                }
                node("LabelEncoder", name: "\(prefix).encode", [categorical.name], "\(prefix).index",
                     attributes: [ONNXExport.stringsAttribute("keys_strings", keys), ONNXExport.integersAttribute("values_int64s", indices),
                                  ONNXExport.integerAttribute("default_int64", -1)],
                     domain: ONNXExport.mlDomain)
                node("OneHotEncoder", name: "\(prefix).one_hot", ["\(prefix).index"], "\(prefix).one_hot",
                     attributes: [ONNXExport.integersAttribute("cats_int64s", (0 ..< categorical.width).map(Int64.init)),
                                  ONNXExport.integerAttribute("zeros", 1)],
                     domain: ONNXExport.mlDomain)
                integerInitializer("\(prefix).shape", [-1, Int64(categorical.width)])
                node("Reshape", name: "\(prefix).reshape", ["\(prefix).one_hot", "\(prefix).shape"], "\(prefix).block")
                blocks.append("\(prefix).block")
            }
        }
        // An input named like one of the graph's own values would be two values of one name.
        let layerNames = Set(graph.initializer.map(\.name)).union(internalNames)
        if let clash = preprocessing.columns.map(\.name).first(where: { layerNames.contains($0) || $0.hasPrefix("layers.")
            || $0.hasPrefix("standardization") || $0 == ONNXExport.inputName }) {
            throw InputError("\(path): its column '\(clash)' has the name of a value of the exported graph: "
                + "rename the column and train again to export it")
        }
        node("Concat", name: "preprocessing.concat", values + indicators + blocks, features,
             attributes: [ONNXExport.integerAttribute("axis", 1)])
        return features
    }

    /// An int64 initializer (a shape), little-endian in `raw_data`.
    mutating func integerInitializer(_ name: String, _ values: [Int64]) {
        var bytes = Data(capacity: 8 * values.count)
        for value in values { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        graph.initializer.append(Onnx_TensorProto.with {
            $0.name = name
            $0.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
            $0.dims = [Int64(values.count)]
            $0.rawData = bytes
        })
    }
}

extension ONNXExport {
    /// The value info of a raw column's input: [batch, 1] of float32 or string.
    static func columnInfo(_ name: String, type: Onnx_TensorProto.DataType) -> Onnx_ValueInfoProto {
        Onnx_ValueInfoProto.with {
            $0.name = name
            $0.type.tensorType.elemType = Int32(type.rawValue)
            $0.type.tensorType.shape.dim = [
                Onnx_TensorShapeProto.Dimension.with { $0.dimParam = batchDimension },
                Onnx_TensorShapeProto.Dimension.with { $0.dimValue = 1 },
            ]
        }
    }

    static func integersAttribute(_ name: String, _ values: [Int64]) -> Onnx_AttributeProto {
        Onnx_AttributeProto.with { $0.name = name; $0.type = .ints; $0.ints = values }
    }

    /// Strings as their exact UTF-8 bytes (a category is its bytes, see `CategoryDictionary`).
    static func stringsAttribute(_ name: String, _ values: [String]) -> Onnx_AttributeProto {
        Onnx_AttributeProto.with { $0.name = name; $0.type = .strings; $0.strings = values.map { Data($0.utf8) } }
    }
}
