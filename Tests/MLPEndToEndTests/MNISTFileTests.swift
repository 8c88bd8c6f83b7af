import XCTest
@testable import MLP
import TestSupport

/// The team's real MNIST files (60,000 + 10,000 images in ../shared/data/mnist), read in
/// process: too large for the unit tests, which read small IDX files made in the test.
final class MNISTFileTests: XCTestCase {
    func testRealMNISTWhenPresent() throws {
        let directory = try mnistDirectory()
        let train: Dataset<Float> = try MNIST.load(directory: directory, split: .train)
        XCTAssertEqual(train.rowCount, 60_000)
        XCTAssertEqual(train.featureCount, 784)
        XCTAssertEqual(train.labels.first, 5)
        XCTAssertEqual(train.features.min(), 0)
        XCTAssertEqual(train.features.max(), 1)
        let test: Dataset<Float> = try MNIST.load(directory: directory, split: .test)
        XCTAssertEqual(test.rowCount, 10_000)
        XCTAssertEqual(test.featureCount, 784)
        XCTAssertEqual(test.labels.first, 7)
        XCTAssertEqual(test.classNames, (0 ... 9).map(String.init))
    }
}
