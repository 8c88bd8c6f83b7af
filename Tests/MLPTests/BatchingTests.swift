import XCTest
@testable import MLP

final class BatchingTests: XCTestCase {
    func testShardsAreContiguousCoverAndDifferByAtMostOne() {
        for count in [0, 1, 2, 7, 256, 1000] {
            for size in 1 ... 5 {
                let shards = (0 ..< size).map { shardRange(count: count, rank: $0, size: size) }
                XCTAssertEqual(shards.first!.lowerBound, 0)
                XCTAssertEqual(shards.last!.upperBound, count)
                for (a, b) in zip(shards, shards.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
                let sizes = shards.map(\.count)
                XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 1, "count \(count) over \(size) ranks: \(sizes)")
            }
        }
        XCTAssertEqual(shardRange(count: 1, rank: 1, size: 2).count, 0, "with n_b < P some ranks hold no rows")
    }

    func testEpochOrderDependsOnSeedAndEpochOnly() {
        var a = EpochOrder(rowCount: 100, seed: 5, shuffle: true)
        var b = EpochOrder(rowCount: 100, seed: 5, shuffle: true)
        a.prepare(epoch: 3); b.prepare(epoch: 1); b.prepare(epoch: 3)
        XCTAssertEqual(a.rows, b.rows, "the permutation must not depend on earlier epochs")
        XCTAssertEqual(a.rows.sorted(), Array(0 ..< 100), "a permutation: no row dropped or repeated")
        b.prepare(epoch: 4)
        XCTAssertNotEqual(a.rows, b.rows)
        var fileOrder = EpochOrder(rowCount: 10, seed: 5, shuffle: false)
        fileOrder.prepare(epoch: 2)
        XCTAssertEqual(fileOrder.rows, Array(0 ..< 10))
    }

    func testBatchesCoverTheEpochWithAPartialLastBatch() {
        XCTAssertEqual(EpochOrder.batchCount(rowCount: 300, batchSize: 256), 2)
        XCTAssertEqual(EpochOrder.batchRange(1, rowCount: 300, batchSize: 256), 256 ..< 300)
        XCTAssertEqual(EpochOrder.batchCount(rowCount: 300, batchSize: 7), 43)
        XCTAssertEqual(EpochOrder.batchRange(42, rowCount: 300, batchSize: 7), 294 ..< 300)
    }

    func testParameterLayoutIsThetaOrder() {
        let layout = ParameterLayout(layerSizes: [3, 4, 2])
        // θ = [vec(W1) 12, b1 4, vec(W2) 8, b2 2]
        XCTAssertEqual(layout.weightOffsets, [0, 16])
        XCTAssertEqual(layout.biasOffsets, [12, 24])
        XCTAssertEqual(layout.count, 26)
    }
}
