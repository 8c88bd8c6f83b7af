/// `--validation-split` and `--early-stopping`: held-out rows, and keeping the best epoch.

extension Dataset {
    /// The rows `indices`, in that order, as a new dataset with the same columns and classes.
    public func rows(_ indices: [Int]) -> Dataset<T> {
        var features: [T] = []
        var labels: [Int32] = [], targets: [T] = []
        let targetCount = isClassification ? 0 : targetNames.count
        if mappedFeatures == nil {
            let dense = denseFeatureCount
            features.reserveCapacity(indices.count * dense)
            self.features.withUnsafeBufferPointer { source in
                for row in indices { features.append(contentsOf: source[row * dense ..< (row + 1) * dense]) }
            }
        }
        if isClassification {
            labels = indices.map { self.labels[$0] }
        } else {
            targets.reserveCapacity(indices.count * targetCount)
            for row in indices { targets.append(contentsOf: targetValues[row * targetCount ..< (row + 1) * targetCount]) }
        }
        var selected = mappedFeatures.map {
            Dataset(mapped: $0.selecting(indices), featureNames: featureNames, labels: labels, classNames: classNames,
                    targetValues: targets, targetNames: targetNames)
        } ?? Dataset(rowCount: indices.count, featureCount: featureCount, features: features, oneHot: oneHot?.rows(indices),
                     featureNames: featureNames, labels: labels, classNames: classNames, targetValues: targets, targetNames: targetNames)
        selected.weights = weights.map { weights in indices.map { weights[$0] } }
        return selected
    }

    /// Which rows `--validation-split fraction` holds out: ⌈fraction · n⌉ rows chosen by a
    /// permutation seeded by `seed` alone (the same on every rank, for any number of ranks),
    /// returned in file order. The others, also in file order, are the training rows.
    public static func validationRows(rowCount: Int, fraction: Double, seed: UInt64) -> (training: [Int], validation: [Int]) {
        precondition(fraction > 0 && fraction < 1)
        var order = Array(0 ..< rowCount)
        // A stream apart from initialization's and the epoch orders'.
        var generator = SplitMix64(seed: seed ^ 0x5641_4C49_4441_5445)   // "VALIDATE"
        for i in stride(from: rowCount - 1, to: 0, by: -1) {
            order.swapAt(i, Int(generator.next() % UInt64(i + 1)))
        }
        let held = min(rowCount, Int((fraction * Double(rowCount)).rounded(.up)))
        return (Array(order[held...]).sorted(), Array(order[..<held]).sorted())
    }

    /// Splits off the `--validation-split` rows; fails if either part would be empty.
    public func holdingOut(fraction: Double, seed: UInt64) throws -> (training: Dataset<T>, validation: Dataset<T>) {
        let split = try Self.validationSplit(rowCount: rowCount, fraction: fraction, seed: seed)
        return (rows(split.training), rows(split.validation))
    }

    /// `validationRows`, refused if either part would be empty.
    static func validationSplit(rowCount: Int, fraction: Double, seed: UInt64) throws -> (training: [Int], validation: [Int]) {
        let split = validationRows(rowCount: rowCount, fraction: fraction, seed: seed)
        guard !split.training.isEmpty, !split.validation.isEmpty else {
            throw InputError("--validation-split \(fraction) of \(rowCount) training rows leaves \(split.training.count) "
                + "for training and \(split.validation.count) for validation: both need at least one")
        }
        return split
    }
}

/// `--early-stopping PATIENCE`: remembers the epoch with the lowest validation loss and a copy of
/// its parameters, and says to stop once PATIENCE epochs in a row have not improved on it.
///
/// The validation loss is the allreduced one, the same on every rank, so every rank decides
/// alike. "Improved" means strictly lower than the best so far.
public final class EarlyStopping<T: Scalar> {
    public let patience: Int
    /// θ after the best epoch so far (valid once `bestEpoch` is set).
    public let bestParameters: FlatBuffer<T>
    public private(set) var bestEpoch: Int?
    public private(set) var bestLoss = Double.infinity
    /// Epochs since the best one.
    public private(set) var epochsWithoutImprovement = 0

    public init(patience: Int, layout: ParameterLayout) {
        precondition(patience >= 1)
        self.patience = patience
        bestParameters = FlatBuffer(layout: layout)
    }

    /// Records an epoch's validation loss and θ; returns true when training should stop. A NaN
    /// loss is never an improvement (nor compared: it would be, by accident of IEEE's rules).
    public func observe(epoch: Int, validationLoss: Double, parameters: FlatBuffer<T>) -> Bool {
        if !validationLoss.isNaN, validationLoss < bestLoss {
            bestLoss = validationLoss
            bestEpoch = epoch
            epochsWithoutImprovement = 0
            _ = bestParameters.values.update(fromContentsOf: parameters.values)
        } else {
            epochsWithoutImprovement += 1
        }
        return epochsWithoutImprovement >= patience
    }

    /// Resumes the record kept in a checkpoint (`bestParameters` is loaded separately).
    func restore(bestLoss: Double, bestEpoch: Int?, epochsWithoutImprovement: Int) {
        self.bestLoss = bestLoss
        self.bestEpoch = bestEpoch
        self.epochsWithoutImprovement = epochsWithoutImprovement
    }

    /// Puts the best epoch's θ back into `parameters` (no-op before any epoch).
    public func restoreBest(into parameters: FlatBuffer<T>) {
        guard bestEpoch != nil else { return }
        _ = parameters.values.update(fromContentsOf: bestParameters.values)
    }
}
