/// A table of samples in memory: features row-major, one row per sample, and their targets.
///
/// For classification (`--loss cross-entropy`) each row has one class index in `labels`,
/// `0 ..< classNames.count`. For regression (`--loss squared-error`) each row has
/// `targetCount` values in `targetValues`, row-major.
public struct Dataset<T: Scalar> {
    public var rowCount: Int
    public var featureCount: Int
    /// rowCount × denseFeatureCount, row-major; empty when `mappedFeatures` holds them.
    public var features: [T]
    /// The 0/1 columns after the dense ones (missing-value indicators and one-hot categories of
    /// a table), kept as indices; nil: every feature is in `features`.
    public var oneHot: OneHotBlocks?
    /// The features of a memory-mapped `.npy` file, read row by row (see `MappedFeatures`);
    /// nil when they are in `features`.
    public var mappedFeatures: MappedFeatures<T>?
    /// Column names of the features (MNIST: "pixel0" …).
    public var featureNames: [String]
    /// Class index per row (classification); empty for regression.
    public var labels: [Int32]
    /// The class label strings, index = class (classification); empty for regression.
    public var classNames: [String]
    /// rowCount × targetCount, row-major (regression); empty for classification.
    public var targetValues: [T]
    /// Names of the target columns.
    public var targetNames: [String]
    /// A weight per row (`--sample-weight`, `--train-weights`, `--class-weight`): the loss is
    /// Σ wᵢ Lᵢ / Σ wᵢ; nil: every row weighs 1.
    public var weights: [T]?

    public var isClassification: Bool { !classNames.isEmpty }
    /// The features held as values in `features`: all but the 0/1 columns of `oneHot`.
    public var denseFeatureCount: Int { featureCount - (oneHot?.width ?? 0) }
    /// What a loss sum over every row is divided by: Σ wᵢ (summed in order, the same on every
    /// rank), or the row count without weights.
    public var lossDivisor: Double {
        weights.map { $0.reduce(0.0) { $0 + Double($1) } } ?? Double(rowCount)
    }
    /// Output units the last layer needs: M classes, or the number of target columns.
    public var outputCount: Int { isClassification ? classNames.count : targetNames.count }

    public init(rowCount: Int, featureCount: Int, features: [T], oneHot: OneHotBlocks? = nil, featureNames: [String],
                labels: [Int32] = [], classNames: [String] = [],
                targetValues: [T] = [], targetNames: [String]) {
        precondition(features.count == rowCount * (featureCount - (oneHot?.width ?? 0)))
        precondition(oneHot.map { $0.indices.count == rowCount * $0.widths.count } ?? true)
        self.oneHot = oneHot
        precondition(classNames.isEmpty ? targetValues.count == rowCount * targetNames.count
                                        : labels.count == rowCount)
        self.rowCount = rowCount
        self.featureCount = featureCount
        self.features = features
        self.featureNames = featureNames
        self.labels = labels
        self.classNames = classNames
        self.targetValues = targetValues
        self.targetNames = targetNames
    }
}

extension Dataset {
    /// The same rows with the regression targets in the order of `names`, which must be a
    /// permutation of `targetNames`: targets are matched by name wherever they are read.
    public func reorderingTargets(to names: [String]) -> Dataset<T> {
        precondition(!isClassification && Set(names) == Set(targetNames) && names.count == targetNames.count)
        guard names != targetNames else { return self }
        let source = names.map { targetNames.firstIndex(of: $0)! }
        let count = names.count
        var reordered = self
        reordered.targetNames = names
        reordered.targetValues = [T](unsafeUninitializedCapacity: targetValues.count) { buffer, initialized in
            for row in 0 ..< rowCount {
                for (k, column) in source.enumerated() { buffer[row * count + k] = targetValues[row * count + column] }
            }
            initialized = targetValues.count
        }
        return reordered
    }
}

/// How a reader turns target columns into targets.
public enum TargetKind: Equatable, Sendable {
    /// Class labels. `classNames == nil` (training data): integers 0…M−1 keep their value as the
    /// class index; any other strings are sorted and numbered. Given names (test data): each label
    /// must be one of them.
    case classes(classNames: [String]?)
    /// Numeric regression targets.
    case values
    /// No targets (the input of `mlp predict`): every column is a feature but the target
    /// columns named, which are skipped where present.
    case none
}

/// A bad input file or value: the message names the file and, where it applies, the 1-based
/// line (the header is line 1) and the offending value.
public struct InputError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
