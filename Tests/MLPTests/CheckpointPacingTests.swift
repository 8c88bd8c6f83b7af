import Foundation
import XCTest
@testable import MLP

/// A sweep's folds write an epoch's checkpoint only once `interval` seconds have passed since the
/// last one, and always where the run stops; `mlp train` (no interval) writes every epoch.
final class CheckpointPacingTests: XCTestCase {
    func testWithoutAnIntervalEveryEpochIsDue() {
        let start = Date(timeIntervalSince1970: 1000)
        let pacing = CheckpointPacing(interval: nil, start: start)
        XCTAssertTrue(pacing.isDue(stopping: false, now: start))
        XCTAssertTrue(pacing.isDue(stopping: true, now: start))
    }

    func testAnIntervalSkipsEpochsUntilItHasPassedAndResetsWhenWritten() {
        let start = Date(timeIntervalSince1970: 1000)
        var pacing = CheckpointPacing(interval: 30, start: start)
        XCTAssertFalse(pacing.isDue(stopping: false, now: start.addingTimeInterval(1)))
        XCTAssertFalse(pacing.isDue(stopping: false, now: start.addingTimeInterval(29.9)))
        XCTAssertTrue(pacing.isDue(stopping: false, now: start.addingTimeInterval(30)))
        pacing.written(now: start.addingTimeInterval(31))
        XCTAssertFalse(pacing.isDue(stopping: false, now: start.addingTimeInterval(60)))
        XCTAssertTrue(pacing.isDue(stopping: false, now: start.addingTimeInterval(61)))
    }

    func testTheStopIsAlwaysDue() {
        let start = Date(timeIntervalSince1970: 1000)
        let pacing = CheckpointPacing(interval: 30, start: start)
        XCTAssertTrue(pacing.isDue(stopping: true, now: start.addingTimeInterval(0.1)))
    }
}
