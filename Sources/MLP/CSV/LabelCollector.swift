import Foundation

/// Turns class label strings into class indices, as `TargetKind.classes` describes.
struct LabelCollector {
    let path: String
    /// The training classes, when given (test data); nil when this file defines them.
    let givenClasses: [String: Int32]?
    let givenClassNames: [String]
    /// Each distinct label, numbered in order of first appearance, and the line it first appears on.
    var distinct: [String: (number: Int32, line: Int)] = [:]
    var rowLabels: [Int32] = []

    init(path: String, kind: TargetKind) {
        self.path = path
        if case .classes(let names?) = kind {
            givenClassNames = names
            givenClasses = Dictionary(names.enumerated().map { ($1, Int32($0)) }, uniquingKeysWith: { first, _ in first })
        } else {
            givenClassNames = []
            givenClasses = nil
        }
    }

    mutating func add(_ label: String, line: Int) throws {
        guard !label.isEmpty else { throw InputError("\(path):\(line): class label is empty") }
        if let givenClasses {
            guard let index = givenClasses[label] else {
                throw InputError("\(path):\(line): class label \(quoted(label)) "
                    + "is not one of the training classes (\(listed(givenClassNames, limit: 20)))")
            }
            rowLabels.append(index)
            return
        }
        if let known = distinct[label] {
            rowLabels.append(known.number)
        } else {
            let number = Int32(distinct.count)
            distinct[label] = (number, line)
            rowLabels.append(number)
        }
    }

    /// Each row's class index and the class names: integer labels are their own index,
    /// other labels are sorted and numbered.
    func classIndices() throws -> (labels: [Int32], classNames: [String]) {
        if givenClasses != nil { return (rowLabels, givenClassNames) }
        let (classOfNumber, classNames) = try classNumbering()
        return (rowLabels.map { classOfNumber[Int($0)] }, classNames)
    }

    /// The class of each label numbered in order of first appearance, and the class names
    /// (training data, when this file defines the classes).
    func classNumbering() throws -> (classOfNumber: [Int32], classNames: [String]) {
        precondition(givenClasses == nil)
        let integerLabels = distinct.keys.allSatisfy(isNonNegativeIntegerLiteral)
        if integerLabels {
            let largest = distinct.max { Int($0.key)! < Int($1.key)! }!
            guard Int(largest.key)! <= CSVReader.largestIntegerLabel else {
                throw InputError("\(path):\(largest.value.line): class label \(quoted(largest.key)) is too large: "
                    + "integer labels are class indices, at most \(CSVReader.largestIntegerLabel)")
            }
        }
        let classNames = integerLabels ? (0 ... Int(distinct.keys.max { Int($0)! < Int($1)! }!)!).map(String.init)
                                       : distinct.keys.sorted()
        let classOfName = Dictionary(uniqueKeysWithValues: classNames.enumerated().map { ($1, Int32($0)) })
        var classOfNumber = [Int32](repeating: 0, count: distinct.count)
        for (label, first) in distinct { classOfNumber[Int(first.number)] = classOfName[label]! }
        return (classOfNumber, classNames)
    }
}

/// "0", "7", "42": digits only, without leading zeros (so the name is the number's own
/// spelling), short enough to be an Int.
private func isNonNegativeIntegerLiteral(_ text: String) -> Bool {
    let utf8 = text.utf8
    guard !utf8.isEmpty && utf8.count <= 9 && utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
        return false
    }
    return utf8.count == 1 || utf8.first != UInt8(ascii: "0")
}
