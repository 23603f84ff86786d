// swift-tools-version: 6.2
import PackageDescription

// The export list and SONAME are fixed by the linker, so only the C API leaves the library.
let linkerFlags: [String] = [
    "-Xlinker", "-soname=libsanwsp.so",
    "-Xlinker", "--version-script=\(Context.packageDirectory)/sanwsp.map",
]

let package = Package(
    name: "sanwsp",
    products: [
        .library(name: "sanwsp", type: .dynamic, targets: ["SanWSP"]),
    ],
    targets: [
        // include/ holds the public C headers; its module map lets Swift check every export
        // against the header's prototype (@c @implementation).
        .systemLibrary(name: "WinSock", path: "include"),
        // Linux headers Glibc's module map leaves out (eventfd, epoll).
        .systemLibrary(name: "CSystem", path: "Sources/CSystem"),
        // rdma-core headers only: the libraries are loaded with dlopen (VerbsLibrary.swift).
        .systemLibrary(name: "CVerbs", path: "Sources/CVerbs"),
        // Resets the Swift runtime's cached thread id in fork() children (fork_safety.c).
        .target(name: "CForkSafety", path: "Sources/CForkSafety"),
        .target(
            name: "SanWSP",
            dependencies: ["WinSock", "CSystem", "CVerbs", "CForkSafety"],
            swiftSettings: [.swiftLanguageMode(.v6)],
            linkerSettings: [.unsafeFlags(linkerFlags)]
        ),
        .testTarget(
            name: "SanWSPTests",
            dependencies: ["SanWSP", "WinSock"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
