import XCTest
@testable import MLP

/// The sharded update's pieces that need no MPI: the slices of θ, the optimizer state each rank
/// keeps, and clipping's norm from slices. (`ShardedUpdateEndToEndTests` runs it under mpirun.)
final class ShardedUpdateTests: XCTestCase {
    /// The slices cover θ once, in order, start on block boundaries and differ by at most one block.
    func testSlicesCoverThetaInWholeBlocks() {
        for count in [1, 1000, 1024, 1025, 3648, 101_770, 669_706] {
            for size in 1 ... 5 {
                let shards = ParameterShards(count: count, size: size)
                var next = 0
                for rank in 0 ..< size {
                    let range = shards.range(rank: rank)
                    XCTAssertEqual(range.lowerBound, next, "count \(count), P \(size), rank \(rank)")
                    XCTAssertTrue(range.isEmpty || range.lowerBound % ParameterShards.blockLength == 0)
                    XCTAssertEqual(shards.doubledCounts[rank], 2 * shards.counts[rank])
                    next = range.upperBound
                }
                XCTAssertEqual(next, count)
                let blocks = (0 ..< size).map {
                    (shards.range(rank: $0).count + ParameterShards.blockLength - 1) / ParameterShards.blockLength
                }
                XCTAssertLessThanOrEqual(blocks.max()! - blocks.min()!, 1, "count \(count), P \(size): \(blocks)")
            }
        }
    }

    /// Adam's m and v per rank: 2·|θ|/P values (to a block), and all ranks together hold one copy.
    func testOptimizerStatePerRankIsTwoThetaOverP() {
        let network = Network<Float>(layerSizes: [784, 512, 512, 10], activation: .relu, loss: .crossEntropy)
        let count = network.layout.count, rows = 64
        let data = Dataset<Float>(rowCount: rows, featureCount: 784, features: [Float](repeating: 0.5, count: rows * 784),
                                  featureNames: (0 ..< 784).map { "x\($0)" }, labels: (0 ..< rows).map { Int32($0 % 10) },
                                  classNames: (0 ..< 10).map { "\($0)" }, targetNames: ["y"])
        for size in [1, 2, 3] {
            var total = 0
            for rank in 0 ..< size {
                let settings = Trainer<Float>.Settings(batchSize: 32, epochs: 1, seed: 0, shuffle: false)
                let trainer = Trainer(network: network, optimizer: OptimizerSettings(kind: .adam),
                                      schedule: LearningRateSchedule(baseRate: 0.001, settings: ScheduleSettings(), stepsPerEpoch: 2, totalSteps: 2),
                                      train: data, test: nil, settings: settings, exchange: .reduceScatter,
                                      communicator: RankOfMany(rank: rank, size: size))
                let values = trainer.optimizer.stateBytes / MemoryLayout<Float>.stride
                XCTAssertLessThanOrEqual(abs(values - 2 * count / size), 2 * ParameterShards.blockLength,
                                         "P \(size), rank \(rank): \(values)")
                print("ShardedUpdateTests: Adam state, P = \(size), rank \(rank): \(values) values (2|θ|/P = \(2 * count / size))")
                total += values
            }
            XCTAssertEqual(total, 2 * count, "P \(size): one copy of m and v between the ranks")
        }
    }

    /// Clipping's norm measured slice by slice and combined by a maximum (each block is one
    /// rank's) has the bits of the norm of all of g, and of `clipGradientNorm`'s.
    func testNormFromSlicesEqualsNormOfAllAndTheFiniteCheck() {
        let count = 5000
        var generator = SplitMix64(seed: 9)
        let g = FlatBuffer<Float>(layout: ParameterLayout(layerSizes: [count - 1, 1]))
        for i in 0 ..< count { g.values[i] = Float(generator.nextNormal() * pow(10, 4 * generator.nextUniform() - 2)) }
        func norm(size: Int) -> Double {
            let shards = ParameterShards(count: count, size: size)
            let combined = UpdateCheck(count: count, clipping: true)
            for rank in 0 ..< size {
                let slice = shards.range(rank: rank), mine = UpdateCheck(count: count, clipping: true)
                mine.measure(g.values.baseAddress! + slice.lowerBound, slice: slice, scale: 1)
                XCTAssertTrue(mine.isFinite)
                for b in 0 ..< combined.values.count { combined.values[b] = max(combined.values[b], mine.values[b]) }
            }
            return combined.norm
        }
        let whole = norm(size: 1)
        for size in 2 ... 5 { XCTAssertEqual(norm(size: size).bitPattern, whole.bitPattern, "P \(size)") }
        // A value whose division overflows, and a NaN, are not finite; the rest of the slice is.
        let check = UpdateCheck(count: count, clipping: false)
        check.measure(g.values.baseAddress!, slice: 0 ..< count, scale: 1)
        XCTAssertTrue(check.isFinite)
        g.values[4321] = 3e38
        check.measure(g.values.baseAddress!, slice: 0 ..< count, scale: 2)
        XCTAssertFalse(check.isFinite, "3e38 · 2 overflows")
        g.values[4321] = 1
        g.values[count - 1] = .nan
        check.measure(g.values.baseAddress!, slice: 0 ..< count, scale: 1)
        XCTAssertFalse(check.isFinite, "NaN in the last, partial lane group")
    }

    /// The node-shared exchange's fused pass on 2 ranks (`sumsScaledAreFinite`) leaves the bits
    /// and the finiteness that the add of the two slots, then `scaledValuesAreFinite`, leave:
    /// into either slot, scaled or not, for every length's partial lane group, in both precisions.
    func testFusedAddAndCheckEqualsAddThenCheck() {
        func check<T: Scalar>(_: T.Type) {
            func bytes(_ values: [T]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }
            var generator = SplitMix64(seed: 4)
            for count in [1, 7, 8, 15, 16, 17, 33, 1000] {
                let first = (0 ..< count).map { _ in T(generator.nextNormal() * 1e3) }
                let second = (0 ..< count).map { _ in T(generator.nextNormal() * 1e-2) }
                for (scaling, scale) in [(true, T(1) / T(7)), (false, T(1) / T(3))] {
                    for poison in [nil, T.nan, T.infinity, T.greatestFiniteMagnitude] {
                        var a = first, b = second
                        if let poison, count > 0 { a[count - 1] = poison; b[count / 2] = poison }
                        var expected = zip(a, b).map { $0 + $1 }
                        let expectedFinite = T.scaledValuesAreFinite(&expected, count: count, by: scale, inPlace: scaling)
                        for into in 0 ..< 2 {
                            var x = a, y = b
                            let finite = x.withUnsafeMutableBufferPointer { xs in
                                y.withUnsafeMutableBufferPointer { ys in
                                    T.sumsScaledAreFinite(xs.baseAddress!, ys.baseAddress!, into: into == 0 ? xs.baseAddress! : ys.baseAddress!,
                                                          count: count, by: scale, scaling: scaling)
                                }
                            }
                            let context = "\(T.self) \(count) values, scaling \(scaling), \(poison.map { "\($0)" } ?? "finite"), into \(into)"
                            XCTAssertEqual(finite, expectedFinite, context)
                            XCTAssertEqual(bytes(into == 0 ? x : y), bytes(expected), context)
                        }
                    }
                }
            }
        }
        check(Float.self)
        check(Double.self)
    }
}

/// One rank of a world of `size` for code that only asks who it is (a trainer's construction).
private final class RankOfMany: Communicator {
    let rank: Int, size: Int
    init(rank: Int, size: Int) { self.rank = rank; self.size = size }
    func allreduceSum<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>) { fatalError("no collectives here") }
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) { fatalError("no collectives here") }
    func reduceScatterSum<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>, counts: [Int32]) { fatalError("no collectives here") }
    func reduceScatterSum(_ buffer: UnsafeMutableBufferPointer<Int64>, counts: [Int32]) { fatalError("no collectives here") }
    func allgather<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>, counts: [Int32], displacements: [Int32]) {
        fatalError("no collectives here")
    }
    func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) { fatalError("no collectives here") }
    func startAllreduceSum<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>) { fatalError("no collectives here") }
    func waitForReductions() { fatalError("no collectives here") }
    func broadcast<T: Scalar>(_ buffer: UnsafeMutableBufferPointer<T>) { fatalError("no collectives here") }
    func abort(exitCode: Int32) -> Never { fatalError("no collectives here") }
    func split(color: Int, key: Int) -> Communicator { fatalError("no collectives here") }
}
