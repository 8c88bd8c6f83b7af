#if canImport(Glibc)
import Glibc
#endif
import Foundation

// What the ranks of `mlp train` and `mlp evaluate` compare at start (`Communicator.agreeAtStart`),
// after reading their files and before writing anything: the options, the starting model, the data.

extension TrainingConfiguration {
    /// Every setting that decides the run, one "name value" per line in declaration order.
    ///
    /// Found by reflection, so a setting added to `TrainingConfiguration` later is compared
    /// without being listed here. The exceptions, and why:
    /// - the data (`train`, `test`) and the starting model (`resume`, `initFrom`) are compared by
    ///   their content (see `TrainingRun.startItems`), not by their paths: hosts may mount the
    ///   same files at different paths;
    /// - the outputs (`save`, `metrics`, `checkpoint`) by whether they are given: only rank 0
    ///   writes them, at its own path, so another rank's path is never used; but whether `save`
    ///   and `checkpoint` are given decides collectives on every rank (they agree on each write).
    public var settingsText: String {
        settingLines(of: self, prefix: "").map { "\($0.name) \($0.value)" }.joined(separator: "\n")
    }

    static let comparedByContent: Set = ["train", "test", "resume", "initFrom"]
    static let comparedByPresence: Set = ["save", "metrics", "checkpoint"]
}

/// The stored properties of `value` as (name, text), structs flattened ("optimizer.momentum").
private func settingLines(of value: Any, prefix: String) -> [(name: String, value: String)] {
    var lines: [(name: String, value: String)] = []
    for child in Mirror(reflecting: value).children {
        guard let label = child.label else { continue }
        let name = prefix + label
        let setting = unwrapped(child.value)
        if prefix.isEmpty, TrainingConfiguration.comparedByContent.contains(label) { continue }
        if prefix.isEmpty, TrainingConfiguration.comparedByPresence.contains(label) {
            lines.append((name, setting == nil ? "none" : "given"))
        } else if let setting, Mirror(reflecting: setting).displayStyle == .struct {
            lines += settingLines(of: setting, prefix: name + ".")
        } else {
            lines.append((name, settingText(setting)))
        }
    }
    return lines
}

/// An optional's value, nil for none; any other value as it is.
private func unwrapped(_ value: Any) -> Any? {
    let mirror = Mirror(reflecting: value)
    guard mirror.displayStyle == .optional else { return value }
    return mirror.children.first.map { unwrapped($0.value) } ?? nil
}

/// A setting as the command line would write it: raw values of enums, lists with commas.
private func settingText(_ value: Any?) -> String {
    guard let value else { return "none" }
    if let raw = value as? any RawRepresentable { return "\(raw.rawValue)" }
    if let list = value as? [Any] { return list.isEmpty ? "(none)" : list.map(settingText).joined(separator: ",") }
    return "\(value)"
}

/// The option that sets a `settingsText` name, for messages: "--learning-rate".
func optionName(_ setting: String) -> String {
    let special = ["targetColumns": "--target", "clipGradientNorm": "--clip-grad-norm", "optimizer.kind": "--optimizer",
                   "optimizer.epsilon": "--eps", "schedule.kind": "--lr-schedule", "onNonFinite": "--on-nonfinite",
                   "shuffle": "shuffling (--no-shuffle)", "precision": "--precision"]
    if let name = special[setting] { return name }
    let last = setting.split(separator: ".").last.map(String.init) ?? setting
    return "--" + last.map { $0.isUppercase ? "-" + $0.lowercased() : String($0) }.joined()
}

/// The settings that differ between two `settingsText`s, named as options: "--seed 1 where
/// rank 0 has 0, --learning-rate 0.1 where rank 0 has 0.05".
func settingsDifference(mine: String, rank0: String) -> String {
    func settings(_ text: String) -> [(name: String, value: String)] {
        text.split(separator: "\n").map { line in
            let parts = line.split(separator: " ", maxSplits: 1)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
    }
    let theirs = Dictionary(settings(rank0).map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
    let differences = settings(mine).filter { theirs[$0.name] != $0.value }
        .map { "\(optionName($0.name)) \($0.value) where rank 0 has \(theirs[$0.name] ?? "no such setting")" }
    return differences.isEmpty ? "the settings differ" : differences.joined(separator: ", ")
}

extension Dataset {
    /// A fingerprint of everything read: the shape, the feature, target and class names, and
    /// every feature, label and target value, so one changed value changes it.
    ///
    /// For memory-mapped `.npy` features it reads every byte of the file's data once, in order
    /// (see `MappedFeatures.contentFingerprint`); `fingerprint`, which checkpoints record, samples
    /// their rows instead.
    func contentFingerprint() throws -> UInt64 {
        let names = [featureNames, targetNames, classNames].map { $0.joined(separator: "\u{1F}") }.joined(separator: "\u{1E}")
        var hash = MLP.fingerprint(text: names)
        withUnsafeBytes(of: (rowCount, featureCount)) { hash = MLP.fingerprint($0, seed: hash) }
        if let mappedFeatures {
            hash = try mappedFeatures.contentFingerprint(seed: hash)
        } else {
            features.withUnsafeBytes { hash = MLP.fingerprint($0, seed: hash) }
        }
        oneHot?.indices.withUnsafeBytes { hash = MLP.fingerprint($0, seed: hash) }
        labels.withUnsafeBytes { hash = MLP.fingerprint($0, seed: hash) }
        targetValues.withUnsafeBytes { hash = MLP.fingerprint($0, seed: hash) }
        weights?.withUnsafeBytes { hash = MLP.fingerprint($0, seed: hash) }
        return hash
    }
}

extension MappedFeatures {
    /// A fingerprint of the element type, the shape, the selected rows and every byte of the
    /// file's data: one sequential read of it, with `read(2)` rather than through the map
    /// (which is set up for random rows: no read-ahead, and pages would count against its
    /// resident budget). Its cost is that of reading the file once: from the page cache at
    /// memory speed, else at the disk's or the network file system's.
    func contentFingerprint(seed: UInt64) throws -> UInt64 {
        var hash = MLP.fingerprint(text: header.elementType.rawValue, seed: seed)
        withUnsafeBytes(of: (header.shape[0], columns)) { hash = MLP.fingerprint($0, seed: hash) }
        if let selection { selection.withUnsafeBytes { hash = MLP.fingerprint($0, seed: hash) } }
        return try fileFingerprint(path: file.path, offset: header.dataOffset, count: header.shape[0] * rowBytes, seed: hash)
    }
}

/// A fingerprint of `count` bytes of the file at `path` from `offset` (nil: to its end), read
/// in order 4 MiB at a time.
func fileFingerprint(path: String, offset: Int = 0, count: Int? = nil, seed: UInt64 = 0) throws -> UInt64 {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw InputError("\(path): cannot open: \(String(cString: strerror(errno)))") }
    defer { close(descriptor) }
    _ = posix_fadvise(descriptor, 0, 0, POSIX_FADV_SEQUENTIAL)
    let chunk = 4 << 20
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 8)
    defer { buffer.deallocate() }
    var hash = seed, position = offset, remaining = count ?? Int.max
    while remaining > 0 {
        let wanted = min(chunk, remaining)
        let got = pread(descriptor, buffer.baseAddress, wanted, off_t(position))
        if got < 0, errno == EINTR { continue }
        guard got >= 0 else { throw InputError("\(path): cannot read: \(String(cString: strerror(errno)))") }
        if got == 0 {
            guard count == nil else { throw InputError("\(path): truncated while reading it (at byte \(position))") }
            break
        }
        hash = fingerprint(UnsafeRawBufferPointer(rebasing: buffer[..<got]), seed: hash)
        position += got
        remaining -= got
    }
    return hash
}

extension TrainingRun {
    /// What the ranks compare after reading their files: the settings, the starting model, the
    /// training data (the validation rows are a split of it, decided by the seed and the
    /// fraction, which are settings) and the test data.
    func startItems(_ data: TrainingData<T>) -> [StartItem] {
        var options = StartItem(differs: "was given different options", text: configuration.settingsText,
                                advice: "start every rank with the same options")
        options.detail = settingsDifference
        let starting = StartItem.file(configuration.resume.map { "checkpoint \($0)" } ?? configuration.initFrom.map { "--init-from \($0)" },
                                      path: configuration.resume ?? configuration.initFrom,
                                      differs: "was started from a different model", none: "no starting model",
                                      advice: "every rank must read the same file (keep it on a shared file system)")
        let content = data.contentFingerprints
        let train = StartItem(differs: "was started with different training data",
                              value: fingerprinted(configuration.train.messageName, content?.train, none: "none"),
                              fingerprint: content?.train ?? 0, advice: "every rank must read the same data")
        let test = StartItem(differs: "was started with different test data",
                             value: fingerprinted(configuration.test?.messageName, content?.test, none: "no --test"),
                             fingerprint: content?.test ?? 0, advice: "every rank must read the same data")
        return [options, starting, train, test]
    }
}

/// What the ranks of `mlp evaluate` compare after reading their files: the settings (the
/// model's loss and activation, the target columns; `--json` only changes what rank 0 prints),
/// the model file and the data.
func evaluationStartItems(model path: String, data source: DataSource, dataFingerprint: UInt64?, settings: [String]) -> [StartItem] {
    var options = StartItem(differs: "was given different options", text: settings.joined(separator: "\n"),
                            advice: "start every rank with the same options")
    options.detail = settingsDifference
    let model = StartItem.file("model \(path)", path: path, differs: "evaluates a different model", none: "no model",
                               advice: "every rank must read the same file (keep it on a shared file system)")
    let data = StartItem(differs: "was started with different data",
                         value: fingerprinted(source.messageName, dataFingerprint, none: "none"),
                         fingerprint: dataFingerprint ?? 0, advice: "every rank must read the same data")
    return [options, model, data]
}

extension StartItem {
    /// A file that every rank read, by the fingerprint of its bytes (read again now: it was read
    /// and checked already, so a file that cannot be read now is shown, not a new failure).
    /// - Parameters:
    ///   - name: the file as the message names it ("checkpoint c.safetensors"); nil: none given.
    static func file(_ name: String?, path: String?, differs: String, none: String, advice: String) -> StartItem {
        guard let name, let path else { return StartItem(differs: differs, value: none, fingerprint: 0, advice: advice) }
        do {
            let hash = try fileFingerprint(path: path)
            return StartItem(differs: differs, value: fingerprinted(name, hash, none: none), fingerprint: hash, advice: advice)
        } catch {
            return StartItem(differs: differs, text: "\(name) (\(error))", advice: advice)
        }
    }
}

extension DataSource {
    /// The source as a message names it: its path, and its labels' path for `.npy` features.
    var messageName: String { text + (labels.map { " with labels \($0)" } ?? "") }
}

/// "PATH (fingerprint 0123…)", or `none`.
func fingerprinted(_ path: String?, _ fingerprint: UInt64?, none: String) -> String {
    guard let path else { return none }
    return "\(path) (fingerprint \(fingerprint.map(hexadecimal) ?? "not computed"))"
}
