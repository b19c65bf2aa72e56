// The Junos configuration front end (R-11.1): lexer, schema-driven parser for both the
// hierarchical `{ … }` form and the flat `set …` form, the tree they produce, and printers
// for both forms. What the tree *means* is decided elsewhere (DataplaneConfig.swift); this
// file only knows the grammar and, through a `JunosSchema`, which statements exist.
//
// Grammar, as accepted here:
//   statement  := ["inactive:"] word… (";" | "{" statement* "}")
//   values     := word | "quoted string" | "[" value… "]"        (lists only)
//   comments   := "/* … */" | "#" to end of line                 (both start at a token boundary)
//   set form   := one command per line: set|delete|activate|deactivate word…
// A statement's words are walked through the schema, so `system dataplane batch-size 64;`
// is the same as `system { dataplane { batch-size 64; } }` (Junos accepts both), and the
// same walker reads the words of a `set` line.
//
// Not the hot path: clarity over speed, no Foundation.

// MARK: - Locations and errors

/// Where something was written. Lines and columns count from 1; a column counts Unicode
/// scalars, so a tab is one column (what editors' "go to line:column" mostly expect).
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// Every syntax and semantic error in a configuration. Rendered like a compiler diagnostic,
/// `FILE:LINE:COL: error: MESSAGE`, so editors and humans can jump to it.
public struct ConfigError: Error, CustomStringConvertible, Equatable, Sendable {
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String

    public init(file: String, line: Int, column: Int, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    public init(_ message: String, at location: SourceLocation) {
        self.init(file: location.file, line: location.line, column: location.column, message: message)
    }

    public var location: SourceLocation { SourceLocation(file: file, line: line, column: column) }
    public var description: String { "\(file):\(line):\(column): error: \(message)" }
}

// MARK: - Schema

/// Which statements exist, and the shape of each. The schema is data: supporting a new
/// statement means adding an entry (see `JunosSchema.xpf` in DataplaneConfig.swift), not
/// writing parser code. It is syntax only; ranges, defaults and cross-statement rules
/// belong to the compiler, which can phrase them in domain terms.
public struct JunosSchema: Sendable {
    /// What a value must look like to be accepted by the parser.
    public enum ValueType: Sendable, Equatable {
        /// Any word or quoted string.
        case string
        /// An unsigned decimal integer that fits in 64 bits (range checks are the compiler's).
        case number
        /// One of a fixed set of keywords, e.g. `xdp-mode native|generic|auto`.
        case choice([String])
    }

    /// One word of a named instance's identity. Most instances have one value
    /// (`security-zone NAME`); some Junos statements have keyword-separated keys
    /// (`from-zone A to-zone B`), hence a sequence.
    public enum NameKey: Sendable, Equatable {
        case value(ValueType)
        case keyword(String)
    }

    public enum Shape: Sendable, Equatable {
        /// `keyword { … }`; `keyword;` creates it empty.
        case container
        /// `keyword NAME… { … }`: any number of instances, told apart by their names.
        case named([NameKey])
        /// `keyword VALUE;`
        case leaf(ValueType)
        /// `keyword VALUE;` or `keyword [ VALUE… ];`, repeated statements add values.
        case list(ValueType)
        /// `keyword;` with no value, e.g. `permit;`.
        case flag
    }

    public let keyword: String
    public let shape: Shape
    public let children: [JunosSchema]
    /// The statement's keyword is not written: its name (`entries`) or its value
    /// (`positional`) stands where a keyword would. Junos has many of these, e.g. the
    /// prefixes of `prefix-list L { 10.0.0.0/8; }` or the pool of `source-nat pool { P; }`.
    /// A container has at most one; it takes every value that is not one of its keywords.
    public let isImplicit: Bool
    /// Printer hint: when the statement and everything under it form a single chain
    /// (one child, whose one child…), print it on one line, as Junos does for
    /// `address 10.0.0.1/32 to 10.0.0.9/32;` or `then discard;`. Parsing is unaffected.
    public let isOneLiner: Bool
    /// Groups of child keywords that exclude each other (Junos "choices", e.g. `permit`,
    /// `deny`, `reject`): a `set` of one removes the others, as Junos does, so an operator
    /// changes an action with one line. The hierarchical form leaves both and lets the
    /// compiler report the conflict.
    public let choices: [Set<String>]
    /// A named statement that takes one instance (`port range 1024 to 2047`): a `set` with
    /// another name replaces it instead of adding a second.
    public let isSingle: Bool
    private let childIndex: [String: Int]
    private let implicitIndex: Int?

    private init(keyword: String, shape: Shape, children: [JunosSchema], isImplicit: Bool = false,
                 isOneLiner: Bool = false, choices: [Set<String>] = [], isSingle: Bool = false)
    {
        var index: [String: Int] = [:]
        var implicit: Int?
        var keywords = Set<String>()
        for (i, child) in children.enumerated() {
            // Two entries with one keyword would make the walk ambiguous: a programming error.
            precondition(keywords.insert(child.keyword).inserted,
                         "schema: duplicate statement '\(child.keyword)' under '\(keyword)'")
            if child.isImplicit {
                // Two implicit children could not be told apart by what is written.
                precondition(implicit == nil, "schema: two implicit statements under '\(keyword)'")
                implicit = i
            } else {
                index[child.keyword] = i
            }
        }
        self.keyword = keyword
        self.shape = shape
        self.children = children
        self.isImplicit = isImplicit
        self.isOneLiner = isOneLiner
        for group in choices {
            precondition(group.isSubset(of: keywords), "schema: choice \(group.sorted()) names unknown statements under '\(keyword)'")
        }
        self.choices = choices
        self.isSingle = isSingle
        self.childIndex = index
        self.implicitIndex = implicit
    }

    /// The top of a schema: the statements allowed at the top level of a configuration.
    public static func root(_ children: [JunosSchema]) -> JunosSchema {
        JunosSchema(keyword: "", shape: .container, children: children)
    }

    public static func container(_ keyword: String, _ children: [JunosSchema]) -> JunosSchema {
        JunosSchema(keyword: keyword, shape: .container, children: children)
    }

    /// Named instances with a single name, `keyword NAME { … }`.
    public static func named(_ keyword: String, name: ValueType = .string, _ children: [JunosSchema]) -> JunosSchema {
        JunosSchema(keyword: keyword, shape: .named([.value(name)]), children: children)
    }

    /// Named instances with a compound identity, e.g. keys `[.value(.string), .keyword("to-zone"), .value(.string)]`
    /// for `from-zone A to-zone B { … }`.
    public static func named(_ keyword: String, keys: [NameKey], _ children: [JunosSchema]) -> JunosSchema {
        precondition(!keys.isEmpty, "schema: named statement '\(keyword)' needs at least one key")
        return JunosSchema(keyword: keyword, shape: .named(keys), children: children)
    }

    public static func leaf(_ keyword: String, _ type: ValueType) -> JunosSchema {
        JunosSchema(keyword: keyword, shape: .leaf(type), children: [])
    }

    public static func list(_ keyword: String, _ type: ValueType) -> JunosSchema {
        JunosSchema(keyword: keyword, shape: .list(type), children: [])
    }

    public static func flag(_ keyword: String) -> JunosSchema {
        JunosSchema(keyword: keyword, shape: .flag, children: [])
    }

    /// Named instances whose name is written alone, without a keyword: the entries of
    /// `prefix-list L { 10.0.0.0/8; 10.1.0.0/16; }` or `source-address { 10.0.0.0/8 except; }`.
    /// `keyword` names them in the tree (and in the compiler). Their parent also accepts
    /// `[ A B … ]`, one entry per value, so `interfaces [ fw0 fw1 ];` works as well.
    public static func entries(_ keyword: String, name: ValueType = .string, _ children: [JunosSchema] = [])
        -> JunosSchema
    {
        JunosSchema(keyword: keyword, shape: .named([.value(name)]), children: children, isImplicit: true)
    }

    /// A single value written without a keyword, e.g. the prefix of `address web 10.0.0.1/32;`
    /// or the pool of `pool { P; }`. `keyword` names it in the tree.
    public static func positional(_ keyword: String, _ type: ValueType) -> JunosSchema {
        JunosSchema(keyword: keyword, shape: .leaf(type), children: [], isImplicit: true)
    }

    /// This statement, printed on one line when it forms a chain (see `isOneLiner`).
    public var oneLiner: JunosSchema {
        JunosSchema(keyword: keyword, shape: shape, children: children, isImplicit: isImplicit, isOneLiner: true,
                    choices: choices, isSingle: isSingle)
    }

    /// This named statement, taking one instance (see `isSingle`).
    public var single: JunosSchema {
        JunosSchema(keyword: keyword, shape: shape, children: children, isImplicit: isImplicit, isOneLiner: isOneLiner,
                    choices: choices, isSingle: true)
    }

    /// This statement, with children that exclude each other (see `choices`).
    public func choice(_ keywords: String...) -> JunosSchema { choice(keywords) }

    public func choice(_ keywords: [String]) -> JunosSchema {
        JunosSchema(keyword: keyword, shape: shape, children: children, isImplicit: isImplicit, isOneLiner: isOneLiner,
                    choices: choices + [Set(keywords)], isSingle: isSingle)
    }

    /// The other members of the choice `keyword` belongs to (empty when it belongs to none).
    func alternatives(to keyword: String) -> Set<String> {
        choices.first { $0.contains(keyword) }.map { $0.subtracting([keyword]) } ?? []
    }

    /// The child written with this keyword (implicit children have none).
    public func child(_ keyword: String) -> JunosSchema? {
        childIndex[keyword].map { children[$0] }
    }

    /// The child whose keyword is not written, if any.
    public var implicitChild: JunosSchema? {
        implicitIndex.map { children[$0] }
    }

    var holdsStatements: Bool {
        switch shape {
        case .container, .named: return true
        case .leaf, .list, .flag: return false
        }
    }
}

// MARK: - Tree

/// One statement of a configuration. Containers hold children; leaves hold values (none for
/// a flag, one for a leaf, any number for a list). Named instances keep their identity words
/// in `names`.
///
/// Equality is structural: two nodes are equal when they say the same thing. Where it was
/// said (`location`, `valueLocations`) is not part of it, so a tree read back from its own
/// printout equals the original.
public struct JunosNode: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case container
        case leaf
    }

    public internal(set) var kind: Kind
    public internal(set) var keyword: String
    /// Identity words of a named instance (`["trust"]`, or `["a", "to-zone", "b"]`); empty otherwise.
    public internal(set) var names: [String]
    public internal(set) var values: [String]
    /// Parallel to `values`: where each value was written, for errors about one value.
    public internal(set) var valueLocations: [SourceLocation]
    public internal(set) var children: [JunosNode]
    /// `inactive:` / `deactivate`: kept and printed, skipped by the compiler.
    public internal(set) var isInactive: Bool
    /// Where the statement's keyword was written (for the root: line 1, column 1; for an
    /// implicit statement, where its name or value was written).
    public internal(set) var location: SourceLocation
    /// Parallel to `names`: where each identity word was written (keyword words included).
    public internal(set) var nameLocations: [SourceLocation]
    /// From the schema: the keyword is not written (see `JunosSchema.isImplicit`).
    public internal(set) var isImplicit: Bool
    /// From the schema: printed on one line when it forms a chain (see `JunosSchema.isOneLiner`).
    public internal(set) var isOneLiner: Bool

    init(kind: Kind, keyword: String, names: [String] = [], nameLocations: [SourceLocation]? = nil,
         location: SourceLocation, isImplicit: Bool = false, isOneLiner: Bool = false)
    {
        self.kind = kind
        self.keyword = keyword
        self.names = names
        self.nameLocations = nameLocations ?? Array(repeating: location, count: names.count)
        self.values = []
        self.valueLocations = []
        self.children = []
        self.isInactive = false
        self.location = location
        self.isImplicit = isImplicit
        self.isOneLiner = isOneLiner
    }

    /// The first identity word of a named instance (`security-zone trust` → "trust").
    public var name: String? { names.first }

    /// The first child with this keyword (and these names, when given).
    public func child(_ keyword: String, names: [String]? = nil) -> JunosNode? {
        children.first { $0.keyword == keyword && (names == nil || $0.names == names!) }
    }

    /// Every child with this keyword, e.g. all `security-zone` instances.
    public func children(_ keyword: String) -> [JunosNode] {
        children.filter { $0.keyword == keyword }
    }

    /// The statement's own words, quoted where needed: `security-zone trust` (an implicit
    /// statement's keyword is not written: `10.0.0.0/8` for a prefix-list entry).
    public var head: String { headWords.joined(separator: " ") }

    var headWords: [String] { (isImplicit ? [] : [keyword]) + names.map(JunosNode.quoted) }

    /// The statement with its values as one line's words (`[ a b ]` for several values), when
    /// it and everything under it is a single chain of statements; nil otherwise.
    var chainWords: [String]? {
        var words = headWords
        switch kind {
        case .leaf:
            let values = self.values.map(JunosNode.quoted)
            words += values.count > 1 ? ["["] + values + ["]"] : values
            return words
        case .container:
            if children.isEmpty { return words }
            guard children.count == 1, !children[0].isInactive, let rest = children[0].chainWords else { return nil }
            return words + rest
        }
    }

    // Presentation flags (`isImplicit`, `isOneLiner`) follow from the schema and are not compared.
    public static func == (a: JunosNode, b: JunosNode) -> Bool {
        a.kind == b.kind && a.keyword == b.keyword && a.names == b.names && a.values == b.values
            && a.isInactive == b.isInactive && a.children == b.children
    }

    func indexOfChild(_ keyword: String, names: [String]) -> Int? {
        children.firstIndex { $0.keyword == keyword && $0.names == names }
    }

    /// A value as it must be written to be read back as the same single token.
    static func quoted(_ value: String) -> String {
        // `inactive:` as a plain word would be read back as the marker, not as a value.
        var plain = !value.isEmpty && !value.hasPrefix("#") && !value.hasPrefix("/*") && value != "inactive:"
        if plain {
            for s in value.unicodeScalars where JunosLexer.endsWord(s) || s.value < 0x20 || s == "\\" {
                plain = false
                break
            }
        }
        if plain { return value }
        var out = "\""
        for s in value.unicodeScalars {
            switch s {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default: out.unicodeScalars.append(s)
            }
        }
        return out + "\""
    }
}

/// A parsed configuration: the root container and everything under it, in the order written.
public struct JunosTree: Sendable, Equatable, CustomStringConvertible {
    public internal(set) var root: JunosNode

    /// An empty configuration.
    public init(file: String = "") {
        root = JunosNode(kind: .container, keyword: "", location: SourceLocation(file: file, line: 1, column: 1))
    }

    /// Parses either form: the flat form when the first token is a `set`-form command
    /// (`set`, `delete`, `activate`, `deactivate`), the hierarchical form otherwise.
    public static func parse(text: String, file: String, schema: JunosSchema = .xpf) throws -> JunosTree {
        let tokens = try JunosLexer.tokenize(text, file: file)
        var parser = JunosParser(tokens: tokens, schema: schema)
        var tree = JunosTree(file: file)
        if JunosParser.isSetForm(tokens) {
            try parser.applySetCommands(to: &tree.root)
        } else {
            try parser.parseHierarchical(into: &tree.root)
        }
        return tree
    }

    public static func parseHierarchical(text: String, file: String, schema: JunosSchema = .xpf) throws -> JunosTree {
        var parser = JunosParser(tokens: try JunosLexer.tokenize(text, file: file), schema: schema)
        var tree = JunosTree(file: file)
        try parser.parseHierarchical(into: &tree.root)
        return tree
    }

    public static func parseSetCommands(text: String, file: String, schema: JunosSchema = .xpf) throws -> JunosTree {
        var tree = JunosTree(file: file)
        try tree.applySetCommands(text: text, file: file, schema: schema)
        return tree
    }

    /// Applies `set`/`delete`/`activate`/`deactivate` lines in order. All or nothing: on an
    /// error the tree is left as it was, so a bad change never half-applies.
    public mutating func applySetCommands(text: String, file: String, schema: JunosSchema = .xpf) throws {
        var parser = JunosParser(tokens: try JunosLexer.tokenize(text, file: file), schema: schema)
        var copy = root
        try parser.applySetCommands(to: &copy)
        root = copy
    }

    /// True when `parse` would read `text` as set commands.
    public static func looksLikeSetCommands(_ text: String) -> Bool {
        guard let tokens = try? JunosLexer.tokenize(text, file: "") else { return false }
        return JunosParser.isSetForm(tokens)
    }

    /// The node at a path of statement words, e.g. `["system", "dataplane"]`; named instances
    /// take their name words in the path too (`["security", "zones", "security-zone", "trust"]`).
    public func node(at path: [String]) -> JunosNode? {
        var node = root
        var rest = path[...]
        while let keyword = rest.first {
            rest = rest.dropFirst()
            guard let next = node.children.first(where: { child in
                child.keyword == keyword && rest.starts(with: child.names)
            }) else { return nil }
            rest = rest.dropFirst(next.names.count)
            node = next
        }
        return node
    }

    // MARK: Printers

    /// Junos style: 4-space indent, `;` after leaves, `[ … ]` for several values.
    public func hierarchicalText() -> String {
        var out = ""
        for child in root.children { Self.appendHierarchical(child, indent: 0, to: &out) }
        return out
    }

    /// One `set` line per value (and per empty container or flag), in tree order; an
    /// inactive statement's lines are followed by its `deactivate` line. Applying the lines
    /// to an empty tree rebuilds this one.
    public func setLines() -> [String] {
        var lines: [String] = []
        for child in root.children { Self.appendSetLines(child, path: "", to: &lines) }
        return lines
    }

    public var description: String { hierarchicalText() }

    private static func appendHierarchical(_ node: JunosNode, indent: Int, to out: inout String) {
        let pad = String(repeating: " ", count: indent * 4)
        let start = pad + (node.isInactive ? "inactive: " : "")
        // `inactive: a b;` marks the last statement of a chain when read back, so an inactive
        // statement with children is printed as a block, where the marker is unambiguous.
        if node.isOneLiner, !(node.isInactive && !node.children.isEmpty), let words = node.chainWords {
            out += start + words.joined(separator: " ") + ";\n"
            return
        }
        let head = start + node.head
        switch node.kind {
        case .container:
            if node.children.isEmpty {
                out += head + ";\n"
            } else {
                out += head + " {\n"
                for child in node.children { appendHierarchical(child, indent: indent + 1, to: &out) }
                out += pad + "}\n"
            }
        case .leaf:
            // An implicit leaf's line is its value alone, so no space after an empty head.
            let words = node.headWords + node.values.map(JunosNode.quoted).bracketedIfMany
            out += start + words.joined(separator: " ") + ";\n"
        }
    }

    private static func appendSetLines(_ node: JunosNode, path: String, to lines: inout [String]) {
        let head = node.head
        let path = path.isEmpty ? head : head.isEmpty ? path : path + " " + head
        switch node.kind {
        case .container:
            if node.children.isEmpty { lines.append("set " + path) }
            for child in node.children { appendSetLines(child, path: path, to: &lines) }
        case .leaf:
            if node.values.isEmpty { lines.append("set " + path) }
            for value in node.values { lines.append("set " + path + " " + JunosNode.quoted(value)) }
        }
        if node.isInactive {
            // An implicit leaf is deactivated through its value's line.
            let target = node.isImplicit && node.kind == .leaf && !node.values.isEmpty
                ? path + " " + JunosNode.quoted(node.values[0]) : path
            lines.append("deactivate " + target)
        }
    }
}

private extension Array where Element == String {
    /// `[ a b ]` for several values, the value alone for one.
    var bracketedIfMany: [String] { count > 1 ? ["["] + self + ["]"] : self }
}

// MARK: - JunosLexer

struct JunosToken {
    enum Kind: Equatable {
        case word, string, openBrace, closeBrace, openBracket, closeBracket, semicolon, newline, end
    }

    var kind: Kind
    /// A word's text, or a quoted string's decoded contents.
    var text: String
    var location: SourceLocation
    /// Just past the token: where a missing `;` belongs.
    var end: SourceLocation

    var isValue: Bool { kind == .word || kind == .string }

    /// How the token is named in an error message.
    var described: String {
        switch kind {
        case .word: return "'\(text)'"
        case .string:
            // Shown quoted, as written, even when the contents would not need quotes.
            let q = JunosNode.quoted(text)
            return q.hasPrefix("\"") ? q : "\"" + q + "\""
        case .openBrace: return "'{'"
        case .closeBrace: return "'}'"
        case .openBracket: return "'['"
        case .closeBracket: return "']'"
        case .semicolon: return "';'"
        case .newline: return "end of line"
        case .end: return "end of file"
        }
    }
}

enum JunosLexer {
    /// Characters that end a word (besides whitespace): they are tokens of their own.
    static func endsWord(_ s: Unicode.Scalar) -> Bool {
        switch s {
        case " ", "\t", "\r", "\n", "{", "}", "[", "]", ";", "\"": return true
        default: return false
        }
    }

    /// Newlines are tokens because they end a `set` line; the hierarchical parser skips them.
    /// Comments and other whitespace produce nothing.
    static func tokenize(_ text: String, file: String) throws -> [JunosToken] {
        let s = Array(text.unicodeScalars)
        var tokens: [JunosToken] = []
        var i = 0
        var line = 1
        var column = 1
        func here() -> SourceLocation { SourceLocation(file: file, line: line, column: column) }
        func advance() {
            if s[i] == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
            i += 1
        }
        func single(_ kind: JunosToken.Kind) {
            let start = here()
            advance()
            tokens.append(JunosToken(kind: kind, text: "", location: start, end: here()))
        }

        while i < s.count {
            let c = s[i]
            switch c {
            case " ", "\t", "\r":
                advance()
            case "\n":
                single(.newline)
            case "{": single(.openBrace)
            case "}": single(.closeBrace)
            case "[": single(.openBracket)
            case "]": single(.closeBracket)
            case ";": single(.semicolon)
            case "#":
                while i < s.count && s[i] != "\n" { advance() }
            case "/" where i + 1 < s.count && s[i + 1] == "*":
                let start = here()
                advance()
                advance()
                while true {
                    guard i < s.count else { throw ConfigError("unterminated comment", at: start) }
                    if s[i] == "*" && i + 1 < s.count && s[i + 1] == "/" {
                        advance()
                        advance()
                        break
                    }
                    advance()
                }
            case "\"":
                let start = here()
                advance()
                var value = String.UnicodeScalarView()
                while true {
                    // A string ends on its line: an unbalanced quote is then reported where it
                    // opened instead of swallowing the rest of the file. `\n` spells a newline.
                    guard i < s.count, s[i] != "\n" else { throw ConfigError("unterminated string", at: start) }
                    let ch = s[i]
                    if ch == "\"" {
                        advance()
                        break
                    }
                    if ch == "\\" {
                        let escape = here()
                        advance()
                        guard i < s.count, s[i] != "\n" else { throw ConfigError("unterminated string", at: start) }
                        switch s[i] {
                        case "\"": value.append("\"")
                        case "\\": value.append("\\")
                        case "n": value.append("\n")
                        case "t": value.append("\t")
                        default:
                            throw ConfigError("invalid escape '\\\(s[i])' in string", at: escape)
                        }
                        advance()
                        continue
                    }
                    value.append(ch)
                    advance()
                }
                tokens.append(JunosToken(kind: .string, text: String(value), location: start, end: here()))
            default:
                // A word runs to whitespace or punctuation. `#` and `/*` inside a word are part
                // of it (comments start only at a token boundary), so `ge-0/0/0` stays whole.
                let start = here()
                var word = String.UnicodeScalarView()
                while i < s.count && !endsWord(s[i]) {
                    word.append(s[i])
                    advance()
                }
                tokens.append(JunosToken(kind: .word, text: String(word), location: start, end: here()))
            }
        }
        tokens.append(JunosToken(kind: .end, text: "", location: here(), end: here()))
        return tokens
    }
}

// MARK: - JunosParser

/// One statement's words resolved against the schema: the chain of nodes it names and the
/// values at its end. Shared by `set` lines and hierarchical statements.
private struct ResolvedStatement {
    struct Step {
        var keyword: String
        var names: [String]
        var schema: JunosSchema
        var location: SourceLocation
        var nameLocations: [SourceLocation] = []
    }

    var steps: [Step] = []
    var values: [String] = []
    var valueLocations: [SourceLocation] = []
    /// `[ A B … ]` after a container whose implicit child is named: one entry per value,
    /// each a child of the last step (`interfaces [ fw0 fw1 ]`).
    var entries: [(name: String, location: SourceLocation)] = []
    var entrySchema: JunosSchema?
    /// Where `[` is in `words`, so one entry's statement can be spelled without the list.
    var entryListStart = 0
    /// The statement as written (quoted where needed), for messages: `batch-size 64`.
    var words: [String] = []
    /// Just past the last token consumed.
    var end: SourceLocation

    var last: Step { steps[steps.count - 1] }
    var text: String { words.joined(separator: " ") }

    /// One statement per entry of a `[ … ]` entry list, each naming that entry.
    var perEntry: [ResolvedStatement] {
        guard let entrySchema else { return [self] }
        return entries.map { entry in
            var one = self
            one.steps.append(Step(keyword: entrySchema.keyword, names: [entry.name], schema: entrySchema,
                                  location: entry.location, nameLocations: [entry.location]))
            one.entries = []
            one.entrySchema = nil
            one.words = Array(words[..<entryListStart]) + [JunosNode.quoted(entry.name)]
            return one
        }
    }
}

struct JunosParser {
    private var tokens: [JunosToken]
    private var pos = 0
    private let schema: JunosSchema

    init(tokens: [JunosToken], schema: JunosSchema) {
        self.tokens = tokens
        self.schema = schema
    }

    static let setCommands: Set<String> = ["set", "delete", "activate", "deactivate"]

    static func isSetForm(_ tokens: [JunosToken]) -> Bool {
        guard let first = tokens.first(where: { $0.kind != .newline }) else { return false }
        return first.kind == .word && setCommands.contains(first.text)
    }

    private var peek: JunosToken { tokens[pos] }

    private mutating func next() -> JunosToken {
        let t = tokens[pos]
        if t.kind != .end { pos += 1 }
        return t
    }

    private mutating func skipNewlines() {
        while peek.kind == .newline { pos += 1 }
    }

    private static func pathText(_ path: [String]) -> String { path.joined(separator: " ") }

    private static func context(_ path: [String]) -> String {
        path.isEmpty ? "at top level" : "under '\(pathText(path))'"
    }

    // MARK: Statement walker

    /// Reads one statement's words, starting in `context` (whose path is `path`), walking
    /// down containers and named instances until it reaches a leaf (then reads its values)
    /// or a token that is not a word. The caller decides which terminator is acceptable.
    /// `valuesOptional` is for `delete`/`activate`/`deactivate`, which may name a leaf alone.
    private mutating func resolve(in context: JunosSchema, path: [String], valuesOptional: Bool) throws
        -> ResolvedStatement
    {
        var stmt = ResolvedStatement(end: peek.location)
        var schema = context
        var path = path
        while true {
            let t = peek
            // A keyword of the current statement, else the value of its implicit child (a
            // quoted string is never a keyword, so quoting a value keeps it a value).
            if t.kind == .word, let sub = schema.child(t.text) {
                _ = next()
                stmt.words.append(t.text)
                stmt.end = t.end
                var step = ResolvedStatement.Step(keyword: t.text, names: [], schema: sub, location: t.location)
                switch sub.shape {
                case .container, .named:
                    if case .named(let keys) = sub.shape {
                        for key in keys {
                            let k = peek
                            switch key {
                            case .keyword(let word):
                                guard k.kind == .word, k.text == word else {
                                    throw ConfigError("expected '\(word)' after '\(stmt.text)'", at: stmt.end)
                                }
                            case .value(let type):
                                guard k.isValue else {
                                    throw ConfigError("missing name for '\(sub.keyword)'", at: stmt.end)
                                }
                                try Self.check(k, type, for: sub.keyword)
                            }
                            _ = next()
                            step.names.append(k.text)
                            step.nameLocations.append(k.location)
                            stmt.words.append(JunosNode.quoted(k.text))
                            stmt.end = k.end
                        }
                    }
                    stmt.steps.append(step)
                    schema = sub
                    path += [sub.keyword] + step.names.map(JunosNode.quoted)
                    if peek.kind == .openBracket, let entry = sub.implicitChild, case .named = entry.shape {
                        try readEntryList(into: &stmt, of: sub, entry: entry)
                        return stmt
                    }
                    // Another word continues the path into a child: `system dataplane …`.
                    if !peek.isValue { return stmt }

                case .leaf(let type):
                    stmt.steps.append(step)
                    let v = peek
                    if v.isValue {
                        try Self.check(v, type, for: sub.keyword)
                        _ = next()
                        stmt.add(v)
                    } else if v.kind == .openBracket {
                        throw ConfigError("'\(sub.keyword)' takes one value, not a list", at: v.location)
                    } else if !valuesOptional {
                        throw ConfigError("missing value for '\(sub.keyword)'", at: stmt.end)
                    }
                    return stmt

                case .list(let type):
                    stmt.steps.append(step)
                    let v = peek
                    if v.isValue {
                        try Self.check(v, type, for: sub.keyword)
                        _ = next()
                        stmt.add(v)
                    } else if v.kind == .openBracket {
                        _ = next()
                        stmt.words.append("[")
                        let close = try readBracketList(open: v, type, keyword: sub.keyword) { stmt.add($0) }
                        stmt.words.append("]")
                        stmt.end = close.end
                    } else if !valuesOptional {
                        throw ConfigError("missing value for '\(sub.keyword)'", at: stmt.end)
                    }
                    return stmt

                case .flag:
                    stmt.steps.append(step)
                    return stmt
                }
            } else if t.isValue, let sub = schema.implicitChild {
                // Values are checked against the type under the parent's keyword: that is
                // the word the operator wrote (`system-services pingg`).
                _ = next()
                var step = ResolvedStatement.Step(keyword: sub.keyword, names: [], schema: sub, location: t.location)
                switch sub.shape {
                case .named(let keys):
                    guard keys.count == 1, case .value(let type) = keys[0] else {
                        preconditionFailure("schema: implicit '\(sub.keyword)' must have exactly one name")
                    }
                    try Self.check(t, type, for: schema.keyword)
                    step.names = [t.text]
                    step.nameLocations = [t.location]
                    stmt.words.append(JunosNode.quoted(t.text))
                    stmt.end = t.end
                    stmt.steps.append(step)
                    schema = sub
                    path += [JunosNode.quoted(t.text)]
                    if !peek.isValue { return stmt }
                case .leaf(let type):
                    try Self.check(t, type, for: schema.keyword)
                    stmt.steps.append(step)
                    stmt.add(t)
                    return stmt
                case .container, .list, .flag:
                    preconditionFailure("schema: implicit '\(sub.keyword)' must be entries or positional")
                }
            } else if t.kind == .word {
                throw ConfigError("unknown statement '\(t.text)' \(Self.context(path))", at: t.location)
            } else {
                if stmt.steps.isEmpty {
                    throw ConfigError("expected a statement \(Self.context(path)), found \(t.described)", at: t.location)
                }
                return stmt  // a container's words end here; `{` or the terminator follows
            }
        }
    }

    /// `[ A B … ]` naming several entries of `container`'s implicit child.
    private mutating func readEntryList(into stmt: inout ResolvedStatement, of container: JunosSchema,
                                        entry: JunosSchema) throws
    {
        guard case .named(let keys) = entry.shape, keys.count == 1, case .value(let type) = keys[0] else {
            preconditionFailure("schema: implicit '\(entry.keyword)' must have exactly one name")
        }
        let open = next()
        stmt.entryListStart = stmt.words.count
        stmt.words.append("[")
        let close = try readBracketList(open: open, type, keyword: container.keyword) { e in
            stmt.entries.append((e.text, e.location))
            stmt.words.append(JunosNode.quoted(e.text))
        }
        stmt.words.append("]")
        stmt.end = close.end
        stmt.entrySchema = entry
    }

    /// Type checks happen while parsing so a bad number is reported where it was written,
    /// before the compiler ever sees the tree.
    /// Reads the values of a `[ … ]` list whose `[` (`open`) was consumed, up to and
    /// including `]`, checking each against `type` and handing it to `element`; newlines
    /// inside a list are layout in either form. Returns the closing bracket.
    private mutating func readBracketList(open: JunosToken, _ type: JunosSchema.ValueType, keyword: String,
                                          _ element: (JunosToken) -> Void) throws -> JunosToken {
        var count = 0
        while true {
            skipNewlines()
            let e = peek
            if e.kind == .closeBracket {
                _ = next()
                if count == 0 { throw ConfigError("empty list for '\(keyword)'", at: open.location) }
                return e
            }
            guard e.isValue else {
                throw ConfigError("missing ']' to close the list of '\(keyword)'", at: open.location)
            }
            try Self.check(e, type, for: keyword)
            _ = next()
            element(e)
            count += 1
        }
    }

    private static func check(_ token: JunosToken, _ type: JunosSchema.ValueType, for keyword: String) throws {
        switch type {
        case .string:
            return
        case .number:
            let digitsOnly = !token.text.isEmpty && token.text.unicodeScalars.allSatisfy { $0 >= "0" && $0 <= "9" }
            guard digitsOnly, UInt64(token.text) != nil else {
                throw ConfigError("invalid number \(token.described) for '\(keyword)'", at: token.location)
            }
        case .choice(let choices):
            guard choices.contains(token.text) else {
                throw ConfigError(
                    "invalid value \(token.described) for '\(keyword)': expected \(Self.alternatives(choices))",
                    at: token.location)
            }
        }
    }

    /// `a`, `a or b`, `a, b or c`.
    private static func alternatives(_ words: [String]) -> String {
        guard words.count > 1 else { return words.first ?? "" }
        return words.dropLast().joined(separator: ", ") + " or " + words[words.count - 1]
    }

    // MARK: Tree edits

    /// Runs `body` on the node named by `steps`, creating missing containers on the way (a
    /// statement may name a path whose containers do not exist yet).
    private static func withNode(_ steps: ArraySlice<ResolvedStatement.Step>, in node: inout JunosNode,
                                 _ body: (inout JunosNode) throws -> Void) rethrows
    {
        guard let step = steps.first else { return try body(&node) }
        let index: Int
        if let found = node.indexOfChild(step.keyword, names: step.names) {
            index = found
        } else {
            node.children.append(newNode(step))
            index = node.children.count - 1
        }
        try withNode(steps.dropFirst(), in: &node.children[index], body)
    }

    private static func newNode(_ step: ResolvedStatement.Step) -> JunosNode {
        JunosNode(kind: step.schema.holdsStatements ? .container : .leaf, keyword: step.keyword,
                  names: step.names, nameLocations: step.nameLocations.count == step.names.count ? step.nameLocations : nil,
                  location: step.location, isImplicit: step.schema.isImplicit,
                  isOneLiner: step.schema.isOneLiner)
    }

    // MARK: Hierarchical form

    /// Newlines are layout in the hierarchical form: only `;`, `{` and `}` end statements.
    mutating func parseHierarchical(into root: inout JunosNode) throws {
        tokens.removeAll { $0.kind == .newline }
        try parseBlock(into: &root, schema: schema, path: [], opener: nil)
    }

    /// Statements until the `}` matching `opener` (or end of file at top level).
    private mutating func parseBlock(into node: inout JunosNode, schema: JunosSchema, path: [String],
                                     opener: JunosToken?) throws
    {
        while true {
            let t = peek
            switch t.kind {
            case .end:
                if let opener {
                    throw ConfigError("missing '}' to close '\(Self.pathText(path))'", at: opener.location)
                }
                return
            case .closeBrace:
                guard opener != nil else { throw ConfigError("unexpected '}' with no matching '{'", at: t.location) }
                _ = next()
                return
            default:
                try parseStatement(into: &node, schema: schema, path: path)
            }
        }
    }

    private mutating func parseStatement(into node: inout JunosNode, schema: JunosSchema, path: [String]) throws {
        var inactive = false
        if peek.kind == .word && peek.text == "inactive:" {
            _ = next()
            inactive = true
        }
        let stmt = try resolve(in: schema, path: path, valuesOptional: false)
        let t = peek
        let last = stmt.last
        if stmt.entrySchema != nil {
            guard t.kind == .semicolon else { throw ConfigError("expected ';' after '\(stmt.text)'", at: stmt.end) }
            _ = next()
            for one in stmt.perEntry {
                Self.withNode(one.steps[...], in: &node) { entry in
                    if inactive { entry.isInactive = true }
                }
            }
            return
        }
        if t.kind == .openBrace && last.schema.holdsStatements {
            _ = next()
            let innerPath = path + stmt.steps.flatMap {
                ($0.schema.isImplicit ? [] : [$0.keyword]) + $0.names.map(JunosNode.quoted)
            }
            try Self.withNode(stmt.steps[...], in: &node) { inner in
                // `inactive:` marks the statement the block belongs to, the innermost one.
                if inactive { inner.isInactive = true }
                try parseBlock(into: &inner, schema: last.schema, path: innerPath, opener: t)
            }
            return
        }
        guard t.kind == .semicolon else {
            if last.schema.holdsStatements {
                throw ConfigError("expected '{' or ';' after '\(stmt.text)', found \(t.described)", at: t.location)
            }
            throw ConfigError("expected ';' after '\(stmt.text)'", at: stmt.end)
        }
        _ = next()
        try Self.withNode(stmt.steps.dropLast(), in: &node) { parent in
            // In a file, saying a single-valued statement twice is a mistake worth reporting
            // (unlike a `set` line, which replaces); containers merge and lists accumulate.
            let existing = parent.indexOfChild(last.keyword, names: last.names)
            switch last.schema.shape {
            case .container, .named, .list:
                break
            case .leaf, .flag:
                if let existing {
                    let first = parent.children[existing].location
                    let at = "(first at line \(first.line), column \(first.column))"
                    if last.schema.isImplicit {
                        // No keyword to name: say where the value belongs instead.
                        let owner = path + stmt.steps.dropLast().flatMap {
                            ($0.schema.isImplicit ? [] : [$0.keyword]) + $0.names.map(JunosNode.quoted)
                        }
                        throw ConfigError("'\(Self.pathText(owner))' takes one value \(at)", at: last.location)
                    }
                    throw ConfigError("duplicate statement '\(last.keyword)' \(at)", at: last.location)
                }
            }
            let index = existing ?? {
                parent.children.append(Self.newNode(last))
                return parent.children.count - 1
            }()
            // A list holds each value once, as in the set form (`application [ any any ]`
            // is `application any`): both forms then print and read back alike.
            for (value, location) in zip(stmt.values, stmt.valueLocations)
            where !parent.children[index].values.contains(value) {
                parent.children[index].values.append(value)
                parent.children[index].valueLocations.append(location)
            }
            if inactive { parent.children[index].isInactive = true }
        }
    }

    // MARK: Set form

    mutating func applySetCommands(to root: inout JunosNode) throws {
        while true {
            skipNewlines()
            let command = next()
            if command.kind == .end { return }
            guard command.kind == .word, Self.setCommands.contains(command.text) else {
                throw ConfigError(
                    "unknown command \(command.described): expected 'set', 'delete', 'activate' or 'deactivate'",
                    at: command.location)
            }
            if peek.kind == .newline || peek.kind == .end {
                // A bare `delete` empties the configuration, as in Junos; the others need a statement.
                guard command.text == "delete" else {
                    throw ConfigError("missing statement after '\(command.text)'", at: command.end)
                }
                root.children.removeAll()
                continue
            }
            let stmt = try resolve(in: schema, path: [], valuesOptional: command.text != "set")
            let t = peek
            guard t.kind == .newline || t.kind == .end else {
                throw ConfigError("unexpected \(t.described) after '\(stmt.text)'", at: t.location)
            }
            for one in stmt.perEntry {
                switch command.text {
                case "set":
                    Self.removeAlternatives(one.steps[...], schema: schema, in: &root)
                    Self.set(one, in: &root)
                case "delete": try Self.delete(one, from: &root)
                default: try Self.activate(one, inactive: command.text == "deactivate", in: &root)
                }
            }
        }
    }

    /// `set`: creates what is missing; replaces a single value; adds list values not
    /// already present (so repeating a `set` line changes nothing, as in Junos).
    private static func set(_ stmt: ResolvedStatement, in root: inout JunosNode) {
        let last = stmt.last
        withNode(stmt.steps.dropLast(), in: &root) { parent in
            let index = parent.indexOfChild(last.keyword, names: last.names) ?? {
                parent.children.append(newNode(last))
                return parent.children.count - 1
            }()
            switch last.schema.shape {
            case .leaf:
                parent.children[index].values = stmt.values
                parent.children[index].valueLocations = stmt.valueLocations
                parent.children[index].location = last.location
            case .list:
                for (value, location) in zip(stmt.values, stmt.valueLocations)
                where !parent.children[index].values.contains(value) {
                    parent.children[index].values.append(value)
                    parent.children[index].valueLocations.append(location)
                }
            case .container, .named, .flag:
                break
            }
        }
    }

    /// Before a `set`: at each level of the statement's path, removes the siblings that its
    /// step excludes (setting `then permit` removes `then deny`; a single-instance statement
    /// replaces its previous instance).
    private static func removeAlternatives(_ steps: ArraySlice<ResolvedStatement.Step>, schema: JunosSchema,
                                           in node: inout JunosNode)
    {
        guard let step = steps.first else { return }
        let others = schema.alternatives(to: step.keyword)
        if !others.isEmpty { node.children.removeAll { others.contains($0.keyword) } }
        if step.schema.isSingle { node.children.removeAll { $0.keyword == step.keyword && $0.names != step.names } }
        guard let index = node.indexOfChild(step.keyword, names: step.names) else { return }
        removeAlternatives(steps.dropFirst(), schema: step.schema, in: &node.children[index])
    }

    /// `delete`: removes the statement, or only the named values of a leaf (the leaf goes
    /// when its last value does). Deleting what is not there is an error: in a file it is
    /// almost always a typo.
    private static func delete(_ stmt: ResolvedStatement, from root: inout JunosNode) throws {
        func remove(_ steps: ArraySlice<ResolvedStatement.Step>, from node: inout JunosNode) -> Bool {
            let step = steps[steps.startIndex]
            guard let index = node.indexOfChild(step.keyword, names: step.names) else { return false }
            guard steps.count == 1 else { return remove(steps.dropFirst(), from: &node.children[index]) }
            var child = node.children[index]
            for value in stmt.values {
                guard let i = child.values.firstIndex(of: value) else { return false }
                child.values.remove(at: i)
                child.valueLocations.remove(at: i)
            }
            if stmt.values.isEmpty || child.values.isEmpty {
                node.children.remove(at: index)
            } else {
                node.children[index] = child
            }
            return true
        }
        guard remove(stmt.steps[...], from: &root) else {
            throw ConfigError("statement not found: '\(stmt.text)'", at: stmt.steps[0].location)
        }
    }

    private static func activate(_ stmt: ResolvedStatement, inactive: Bool, in root: inout JunosNode) throws {
        // An implicit leaf can only be named through its value, so its value names the statement.
        if !stmt.last.schema.isImplicit, let location = stmt.valueLocations.first {
            throw ConfigError("cannot \(inactive ? "deactivate" : "activate") a single value of '\(stmt.last.keyword)'",
                              at: location)
        }
        func mark(_ steps: ArraySlice<ResolvedStatement.Step>, in node: inout JunosNode) -> Bool {
            let step = steps[steps.startIndex]
            guard let index = node.indexOfChild(step.keyword, names: step.names) else { return false }
            guard steps.count == 1 else { return mark(steps.dropFirst(), in: &node.children[index]) }
            node.children[index].isInactive = inactive
            return true
        }
        guard mark(stmt.steps[...], in: &root) else {
            throw ConfigError("statement not found: '\(stmt.text)'", at: stmt.steps[0].location)
        }
    }
}

private extension ResolvedStatement {
    mutating func add(_ token: JunosToken) {
        values.append(token.text)
        valueLocations.append(token.location)
        words.append(JunosNode.quoted(token.text))
        end = token.end
    }
}
