import Foundation

/// A trained model as stored on disk: safetensors with tensors `layers.{i}.weight` [U_out, U_in]
/// and `layers.{i}.bias` [U_out] for i = 0…L−1 (the layout of PyTorch's `nn.Linear`), and
/// `__metadata__` describing how to use them.
public struct ModelFile {
    /// U_0 … U_L.
    public var layerSizes: [Int]
    /// θ in the spec's order, converted to Double.
    public var parameters: [Double]
    /// nil where the file has no metadata of ours (a file written by PyTorch or numpy).
    public var activation: Activation?
    public var loss: Loss?
    public var classNames: [String]?
    public var featureNames: [String]?
    public var targetNames: [String]?
    /// The CSV column of the rows' weights it was trained with (`--sample-weight`): `predict`
    /// and `evaluate` skip it, as they skip the targets.
    public var sampleWeightColumn: String?
    /// The dtype the tensors were stored in.
    public var precision: Precision
    /// Per-feature mean and standard deviation of the training data (`--standardize`): inputs are
    /// fed to the network as (x − mean) / std.
    public var standardization: Standardization?
    /// How a raw table's columns become the inputs (a model trained on a table with categorical
    /// columns or missing values; format version 2); nil: the inputs are the numeric columns
    /// `featureNames`, as read.
    public var preprocessing: TablePreprocessing?
    /// Tensors beyond the layers (a checkpoint's optimizer state), named `optimizer.*`.
    public var extraTensors: [SafeTensor] = []
    /// Metadata beyond the model's own (a checkpoint's position and run settings).
    public var extraMetadata: [String: String] = [:]

    /// Metadata keys, all values strings as safetensors requires (lists as JSON arrays).
    enum Key {
        static let format = "format", activation = "activation", loss = "loss", layerSizes = "layer_sizes"
        static let classNames = "class_names", featureNames = "feature_names", targetNames = "target_names"
        static let sampleWeightColumn = "sample_weight_column"
        static let featureMean = "feature_mean", featureStandardDeviation = "feature_std"
    }

    /// The standardization's keys, which a preprocessing's checksum covers.
    static let standardizationKeys: Set = [Key.featureMean, Key.featureStandardDeviation]

    /// Tensor names a model file may hold beyond its layers (a checkpoint's state).
    static let extraTensorPrefixes = ["optimizer.", "early_stopping."]

    /// The model file of `network` with the dataset's column and class names.
    public init<T: Scalar>(network: Network<T>, data: Dataset<T>, standardization: Standardization? = nil,
                           preprocessing: TablePreprocessing? = nil) {
        self.standardization = standardization
        self.preprocessing = preprocessing
        layerSizes = network.layout.layerSizes
        parameters = network.parameters.values.map { Double($0) }
        activation = network.activation
        loss = network.loss
        classNames = data.isClassification ? data.classNames : nil
        featureNames = data.featureNames
        targetNames = data.targetNames
        precision = T.precision
    }

    /// Writes the file atomically (temporary file, fsync, rename): a crash leaves the old file
    /// or the new one, never a torn one. The bytes depend on the model alone.
    public func write(to path: String) throws {
        try SafeTensors.write(tensors: tensors(), metadata: metadata(), to: path)
    }

    func tensors() -> [SafeTensor] {
        let layout = ParameterLayout(layerSizes: layerSizes)
        var tensors: [SafeTensor] = []
        for l in 1 ... layout.layerCount {
            let units = layerSizes[l], inputs = layerSizes[l - 1]
            let weights = Array(parameters[layout.weightOffsets[l - 1] ..< layout.weightOffsets[l - 1] + units * inputs])
            let biases = Array(parameters[layout.biasOffsets[l - 1] ..< layout.biasOffsets[l - 1] + units])
            for (name, shape, values) in [("layers.\(l - 1).weight", [units, inputs], weights),
                                          ("layers.\(l - 1).bias", [units], biases)] {
                switch precision {
                case .float32: tensors.append(SafeTensor(name: name, shape: shape, values: values.map { Float($0) }))
                case .float64: tensors.append(SafeTensor(name: name, shape: shape, values: values))
                }
            }
        }
        return tensors + extraTensors
    }

    func metadata() -> [String: String] {
        var metadata = [Key.format: "mlp", Key.layerSizes: jsonArray(layerSizes.map(String.init), quoted: false)]
        if let activation { metadata[Key.activation] = activation.rawValue }
        if let loss { metadata[Key.loss] = loss.rawValue }
        if let classNames { metadata[Key.classNames] = jsonArray(classNames, quoted: true) }
        if let featureNames { metadata[Key.featureNames] = jsonArray(featureNames, quoted: true) }
        if let targetNames { metadata[Key.targetNames] = jsonArray(targetNames, quoted: true) }
        if let sampleWeightColumn { metadata[Key.sampleWeightColumn] = sampleWeightColumn }
        if let standardization {
            metadata[Key.featureMean] = jsonArray(standardization.mean.map { "\($0)" }, quoted: false)
            metadata[Key.featureStandardDeviation] = jsonArray(standardization.standardDeviation.map { "\($0)" }, quoted: false)
        }
        if let preprocessing {
            metadata.merge(preprocessing.metadata(standardization: metadata.filter { Self.standardizationKeys.contains($0.key) })) { own, _ in own }
        }
        return metadata.merging(extraMetadata) { own, _ in own }
    }

    /// Reads a model file: ours, or any safetensors file holding just `layers.{i}.weight` and
    /// `layers.{i}.bias` (the architecture is then read from the shapes).
    public static func read(path: String) throws -> ModelFile {
        try decode(SafeTensors.readBytes(path), path: path)
    }

    /// The model in a safetensors file's bytes; `path` names it in errors.
    // One function over ~60 lines: each check of the metadata and tensors sits beside the field it reads.
    public static func decode(_ bytes: [UInt8], path: String) throws -> ModelFile {
        let (tensors, metadata) = try SafeTensors.decode(bytes, path: path)
        let byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var layerSizes: [Int] = []
        var parameters: [Double] = []
        var dtypes = Set<SafeTensorsDType>()
        var layer = 0
        while let weight = byName["layers.\(layer).weight"] {
            guard let bias = byName["layers.\(layer).bias"] else {
                throw InputError("\(path): tensor layers.\(layer).weight has no layers.\(layer).bias")
            }
            guard weight.shape.count == 2, bias.shape == [weight.shape[0]] else {
                throw InputError("\(path): layers.\(layer).weight has shape \(weight.shape) and layers.\(layer).bias \(bias.shape); "
                    + "expected [U_out, U_in] and [U_out]")
            }
            if layer == 0 {
                layerSizes.append(weight.shape[1])
            } else if weight.shape[1] != layerSizes.last! {
                throw InputError("\(path): layers.\(layer).weight takes \(weight.shape[1]) inputs but layer \(layer - 1) "
                    + "has \(layerSizes.last!) outputs")
            }
            guard weight.shape.allSatisfy({ $0 > 0 }) else {
                throw InputError("\(path): layers.\(layer).weight has an empty shape \(weight.shape)")
            }
            layerSizes.append(weight.shape[0])
            for tensor in [weight, bias] {
                let values = try tensor.floats()
                // A NaN or ±Inf weight makes every output NaN: refused, as non-finite data is.
                if let index = values.firstIndex(where: { !$0.isFinite }) {
                    let place = tensor.shape.count == 2
                        ? "row \(index / tensor.shape[1]), column \(index % tensor.shape[1])"
                        : "element \(index)"
                    throw InputError("\(path): tensor \(tensor.name) holds \(values[index]) at \(place): "
                        + "a model's parameters must be finite numbers")
                }
                parameters += values
            }
            dtypes.formUnion([weight.dtype, bias.dtype])
            layer += 1
        }
        guard layer > 0 else {
            throw InputError("\(path): no tensor named layers.0.weight (expected layers.{i}.weight and layers.{i}.bias)")
        }
        let layerNames = Set((0 ..< layer).flatMap { ["layers.\($0).weight", "layers.\($0).bias"] })
        let extra = Set(byName.keys).subtracting(layerNames).filter { name in !extraTensorPrefixes.contains { name.hasPrefix($0) } }
        if !extra.isEmpty {
            throw InputError("\(path): unexpected tensors \(extra.sorted().joined(separator: ", ")) "
                + "(layers must be numbered 0, 1, … without gaps)")
        }
        var model = ModelFile(layerSizes: layerSizes, parameters: parameters, precision: dtypes == [.F32] ? .float32 : .float64)
        if let value = metadata[Key.activation] {
            guard let activation = Activation(rawValue: value) else {
                throw InputError("\(path): unknown activation '\(value)' in metadata")
            }
            model.activation = activation
        }
        if let value = metadata[Key.loss] {
            guard let loss = Loss(rawValue: value) else { throw InputError("\(path): unknown loss '\(value)' in metadata") }
            model.loss = loss
        }
        model.classNames = try metadata[Key.classNames].map { try parseStrings($0, key: Key.classNames, path: path) }
        model.featureNames = try metadata[Key.featureNames].map { try parseStrings($0, key: Key.featureNames, path: path) }
        model.targetNames = try metadata[Key.targetNames].map { try parseStrings($0, key: Key.targetNames, path: path) }
        model.sampleWeightColumn = metadata[Key.sampleWeightColumn]
        // The names must fit the layers they describe (they are how columns are matched).
        if let names = model.featureNames, names.count != layerSizes[0] {
            throw InputError("\(path): metadata feature_names holds \(names.count) names for the \(layerSizes[0]) "
                + "inputs of layers.0.weight")
        }
        if model.loss == .crossEntropy, let names = model.classNames, names.count != layerSizes.last! {
            throw InputError("\(path): metadata class_names holds \(names.count) names for the \(layerSizes.last!) "
                + "outputs of the last layer")
        }
        if model.loss == .squaredError, let names = model.targetNames, names.count != layerSizes.last! {
            throw InputError("\(path): metadata target_names holds \(names.count) names for the \(layerSizes.last!) "
                + "outputs of the last layer")
        }
        model.preprocessing = try TablePreprocessing.read(metadata: metadata, path: path, inputCount: layerSizes[0],
                                                          standardization: metadata.filter { standardizationKeys.contains($0.key) })
        // A preprocessed model's feature names describe its inputs (`COL=CATEGORY`); its columns are matched by
        // the preprocessing's names, which it checks.
        if let preprocessing = model.preprocessing, let names = model.featureNames, names != preprocessing.featureNames {
            throw InputError("\(path): metadata feature_names does not name the inputs its preprocessing makes")
        }
        for (key, names) in [(Key.featureNames, model.preprocessing == nil ? model.featureNames : nil), (Key.classNames, model.classNames),
                             (Key.targetNames, model.targetNames)] {
            if let names, Set(names).count != names.count { throw InputError("\(path): metadata \(key) names a column or class twice") }
        }
        if let meanText = metadata[Key.featureMean] {
            let mean = try parseNumbers(meanText, key: Key.featureMean, path: path)
            let deviation = try parseNumbers(metadata[Key.featureStandardDeviation] ?? "", key: Key.featureStandardDeviation, path: path)
            guard mean.count == layerSizes[0], deviation.count == layerSizes[0], deviation.allSatisfy({ $0 > 0 }) else {
                throw InputError("\(path): metadata feature_mean/feature_std must hold \(layerSizes[0]) values (std > 0)")
            }
            model.standardization = Standardization(mean: mean, standardDeviation: deviation)
            // The 0/1 inputs after a preprocessing's numeric ones are never standardized.
            if let numeric = model.preprocessing?.numericColumns.count,
               mean[numeric...].contains(where: { $0 != 0 }) || deviation[numeric...].contains(where: { $0 != 1 }) {
                throw InputError("\(path): metadata feature_mean/feature_std must be 0 and 1 for the indicator and one-hot inputs")
            }
        }
        model.extraTensors = tensors.filter { tensor in extraTensorPrefixes.contains { tensor.name.hasPrefix($0) } }
        let ownKeys: Set<String> = [Key.format, Key.activation, Key.loss, Key.layerSizes, Key.classNames, Key.featureNames,
                                    Key.targetNames, Key.featureMean, Key.featureStandardDeviation, Key.sampleWeightColumn,
                                    TablePreprocessing.Key.formatVersion, TablePreprocessing.Key.columns,
                                    TablePreprocessing.Key.options, TablePreprocessing.Key.checksum]
        model.extraMetadata = metadata.filter { !ownKeys.contains($0.key) }
        return model
    }

    init(layerSizes: [Int], parameters: [Double], precision: Precision) {
        self.layerSizes = layerSizes
        self.parameters = parameters
        self.precision = precision
    }

    /// Copies θ into a network of the same layer sizes.
    public func load<T: Scalar>(into network: Network<T>) {
        precondition(network.layout.layerSizes == layerSizes)
        let theta = network.parameters.values
        for i in 0 ..< parameters.count { theta[i] = T(parameters[i]) }
    }
}

private func jsonArray(_ items: [String], quoted: Bool) -> String {
    guard quoted else { return "[" + items.joined(separator: ",") + "]" }
    let data = try! JSONSerialization.data(withJSONObject: items, options: [.withoutEscapingSlashes])
    return String(decoding: data, as: UTF8.self)
}

private func parseNumbers(_ text: String, key: String, path: String) throws -> [Double] {
    guard text.first == "[", text.last == "]" else { throw InputError("\(path): metadata '\(key)' is not a JSON array of numbers") }
    let body = text.dropFirst().dropLast()
    guard !body.isEmpty else { return [] }
    // Parsed with Double(String): exact for the shortest round-trip digits that were written.
    return try body.split(separator: ",").map {
        guard let value = Double($0), value.isFinite else {
            throw InputError("\(path): metadata '\(key)' holds '\($0)', not a finite number")
        }
        return value
    }
}

private func parseStrings(_ text: String, key: String, path: String) throws -> [String] {
    guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)), let strings = object as? [String] else {
        throw InputError("\(path): metadata '\(key)' is not a JSON array of strings")
    }
    return strings
}
