import Foundation

/// Datasets generated in-process, the same for a given seed on every machine and rank.
public enum Synthetic {
    /// K interleaved spiral arms in the plane, one class per arm (the classic non-linear
    /// classification demo, `--train synthetic:spirals`).
    ///
    /// Point i belongs to class k = i mod K, so every prefix of the rows is balanced. With t
    /// uniform in [0, 1) it lies at radius r = t and angle θ = 2π·1.5·t + 2πk/K + noise·N(0, 1):
    /// arms of 1.5 turns, jittered along the circle. Neighbouring arms are 2π/K apart in angle
    /// (≈ 5 standard deviations of the default noise for K = 3), so the classes are separable,
    /// though not linearly; a 2-64-64-3 ReLU network reaches ≈ 99 % test accuracy.
    ///
    /// - Parameters:
    ///   - noise: The standard deviation of the angle's jitter, in radians.
    ///   - seed: Seeds the `SplitMix64` generator: the same seed gives the same rows.
    public static func spirals<T: Scalar>(rows: Int, classes: Int = 3, noise: Double = 0.2, seed: UInt64) -> Dataset<T> {
        precondition(rows >= 0 && classes >= 2 && noise >= 0)
        let turns = 1.5
        var generator = SplitMix64(seed: seed)
        var points = [Double]()
        points.reserveCapacity(2 * rows)
        var labels = [Int32]()
        labels.reserveCapacity(rows)
        for row in 0 ..< rows {
            let arm = row % classes
            let t = generator.nextUniform()
            let angle = 2 * Double.pi * (turns * t + Double(arm) / Double(classes)) + noise * generator.nextNormal()
            points += [t * cos(angle), t * sin(angle)]
            labels.append(Int32(arm))
        }
        return Dataset(rowCount: rows, featureCount: 2, features: scalars(points), featureNames: ["x", "y"],
                       labels: labels, classNames: (0 ..< classes).map(String.init), targetNames: ["class"])
    }
}
