/// What resuming does with an option that is given again.
public enum ResumeRule: Sendable {
    /// The checkpoint's value decides the run: a given value must equal it.
    case mustAgree
    /// The checkpoint's value is only the default: a given value replaces it (learning rate, epochs).
    case mayChange
    /// Not stored: every run gives its own (outputs, test data, how the gradient is exchanged).
    case perRun
}

/// Whether `mlp sweep --param` may vary an option from trial to trial.
public enum SweepRule: Sendable, Equatable {
    case mayVary
    /// Fixed by the sweep's base for every trial, for the reason given (the refusal's words).
    case fixed(String)
}

/// One option of `mlp train`, declared once: its flag, help, default, the numbers it accepts,
/// where it goes in `TrainingOptions` (as typed) and in `TrainingConfiguration` (resolved),
/// the checkpoint key it is stored under and what resuming does with it. `TrainOptionTable`
/// lists them all; the command line takes names and help from it, and validation, resolution
/// and the checkpoint's checks run over it.
// Key paths and closures are immutable: safe to share.
public struct TrainOption<Value: OptionValue>: @unchecked Sendable {
    /// The flag, `--momentum`.
    public let name: String
    public let help: String
    /// The help's name for the value (`μ`); nil: the flag's.
    public let valueName: String?
    /// The value of a new run when it is not given; nil: none, or decided from other settings.
    public let defaultValue: Value?
    /// The numbers it accepts; nil: any value of its type.
    public let range: ValueRange?
    /// The metadata key of the checkpoint that stores it (`CheckpointSchema.Key`); nil: not stored there.
    public let checkpointKey: String?
    public let resume: ResumeRule
    /// Whether `mlp sweep --param` may vary it.
    public let sweep: SweepRule
    /// Where the value as typed is kept; nil for what `TrainingOptions` keeps in another form
    /// (`--train-labels` inside `train`, `--no-shuffle` as `shuffle`).
    let given: KeyPath<TrainingOptions, Value?>?
    /// How resolution reads and writes it in `TrainingConfiguration`, and reads it from a
    /// checkpoint's settings; nil: resolved by hand (`TrainingOptions.resolve`).
    let setting: Setting?
    /// How a message shows a value as typed: `--momentum 0.9`; nil (an optional setting left off) is `none`.
    let show: (Value?) -> String

    struct Setting {
        /// nil for what resolution decides by hand from the value given (`--chunk-rows`, `--dropout`).
        var read: ((TrainingConfiguration) -> Value?)?
        var write: ((inout TrainingConfiguration, Value) -> Void)?
        /// The checkpoint's value; nil: not in `Checkpoint.RunSettings`.
        let stored: ((Checkpoint.RunSettings) -> Value?)?
        let restore: ((Checkpoint.RunSettings, inout TrainingConfiguration) -> Void)?
    }

    init(_ name: String, _ help: String, valueName: String? = nil, default defaultValue: Value? = nil, range: ValueRange? = nil,
         given: KeyPath<TrainingOptions, Value?>?, setting: Setting? = nil, checkpointKey: String? = nil, resume: ResumeRule,
         sweep: SweepRule = .mayVary, show: ((Value?) -> String)? = nil) {
        (self.name, self.help, self.valueName, self.defaultValue, self.range) = (name, help, valueName, defaultValue, range)
        (self.given, self.setting, self.checkpointKey, self.resume, self.sweep) = (given, setting, checkpointKey, resume, sweep)
        self.show = show ?? { value in value.map { "\(name) \($0)" } ?? "no \(name)" }
    }

    /// The default of an option that declares one.
    public var declaredDefault: Value {
        guard let defaultValue else { preconditionFailure("\(name) declares no default") }
        return defaultValue
    }

    /// Throws unless `value` is in the range: the one check of the option's range, for the
    /// command line, `OptimizerSettings`, `ScheduleSettings` and checkpoints alike.
    public func check(_ value: Value?) throws {
        if let range, let value { try range.check(value.rangeValues, name: name) }
    }
}

extension TrainOption.Setting {
    /// A setting that always has a value.
    static func value(_ path: WritableKeyPath<TrainingConfiguration, Value>,
                      stored: WritableKeyPath<Checkpoint.RunSettings, Value>? = nil) -> Self {
        Self(read: { $0[keyPath: path] }, write: { $0[keyPath: path] = $1 },
             stored: stored.map { stored in { $0[keyPath: stored] } },
             restore: stored.map { stored in { $1[keyPath: path] = $0[keyPath: stored] } })
    }

    /// Only the checkpoint's value, for its range check: resolution decides the setting by hand.
    static func stored(_ stored: @escaping (Checkpoint.RunSettings) -> Value?) -> Self {
        Self(read: nil, write: nil, stored: stored, restore: nil)
    }

    /// A setting that may be off (nil).
    static func optional(_ path: WritableKeyPath<TrainingConfiguration, Value?>,
                         stored: WritableKeyPath<Checkpoint.RunSettings, Value?>? = nil) -> Self {
        Self(read: { $0[keyPath: path] }, write: { $0[keyPath: path] = $1 },
             stored: stored.map { stored in { $0[keyPath: stored] } },
             restore: stored.map { stored in { $1[keyPath: path] = $0[keyPath: stored] } })
    }
}

/// A `TrainOption` of any value type, for the passes over all of them and for tools that list
/// every option with its type and range (a case generator).
public struct AnyTrainOption: @unchecked Sendable {
    public let name: String
    public let help: String
    public let valueName: String?
    public let valueType: Any.Type
    /// The default as text; nil: none, or decided from other settings.
    public let defaultText: String?
    public let range: ValueRange?
    public let checkpointKey: String?
    public let resume: ResumeRule
    public let sweep: SweepRule
    /// Whether it is a flag without a value (`--nesterov`).
    public var isFlag: Bool { valueType == Bool.self }
    /// Whether a value of it was given in `options`.
    public let isGiven: (TrainingOptions) -> Bool
    /// Copies its value as given (nil included) from one set of options into another: how
    /// `mlp sweep` puts a trial's value into its base.
    public let copyGiven: (TrainingOptions, inout TrainingOptions) -> Void
    /// For an option that takes one number: reads `text` as the command line does (`Int(text)`,
    /// `Double(text)`, `UInt64(text)`) into `options`, false if it is not one; nil for the others.
    public let setNumber: ((String, inout TrainingOptions) -> Bool)?

    let checkGiven: (TrainingOptions) throws -> Void
    /// The stored value outside the range, and what it must be; nil: none.
    let storedViolation: (Checkpoint.RunSettings) -> (value: String, requirement: String)?
    let restore: (Checkpoint.RunSettings, inout TrainingConfiguration) -> Void
    let apply: (TrainingOptions, inout TrainingConfiguration, _ resuming: String?) throws -> Void

    init<Value>(_ option: TrainOption<Value>) {
        (name, help, valueName, valueType) = (option.name, option.help, option.valueName, Value.self)
        (defaultText, range) = (option.defaultValue.map { "\($0)" }, option.range)
        (checkpointKey, resume, sweep) = (option.checkpointKey, option.resume, option.sweep)
        isGiven = { options in option.given.map { options[keyPath: $0] != nil } ?? false }
        let writable = option.given as? WritableKeyPath<TrainingOptions, Value?>
        copyGiven = { source, destination in
            guard let writable else { preconditionFailure("\(option.name) is not kept as given in TrainingOptions") }
            destination[keyPath: writable] = source[keyPath: writable]
        }
        if [Int.self, Double.self, UInt64.self].contains(where: { $0 == Value.self }), let writable,
           let number = Value.self as? any LosslessStringConvertible.Type {
            setNumber = { text, options in
                guard let value = number.init(text) as? Value else { return false }
                options[keyPath: writable] = value
                return true
            }
        } else {
            setNumber = nil
        }
        checkGiven = { options in try option.check(option.given.flatMap { options[keyPath: $0] }) }
        storedViolation = { settings in
            option.setting?.stored?(settings).flatMap { value in option.range?.firstViolation(value.rangeValues) }
        }
        restore = { settings, configuration in option.setting?.restore?(settings, &configuration) }
        apply = { options, configuration, checkpoint in
            guard let given = option.given.flatMap({ options[keyPath: $0] }), let read = option.setting?.read,
                  let write = option.setting?.write else { return }
            if let checkpoint, option.resume == .mustAgree {
                try agree(given, read(configuration), show: option.show, checkpoint: checkpoint)
            }
            write(&configuration, given)
        }
    }
}

/// Throws unless a value given when resuming equals the checkpoint's: it would silently change the run.
func agree<Value: Equatable>(_ given: Value?, _ stored: Value?, show: (Value?) -> String, checkpoint path: String) throws {
    guard given != stored else { return }
    throw InputError("\(show(given)) differs from the checkpoint \(path), which was trained with \(show(stored)); "
                     + "resuming must not change it")
}
